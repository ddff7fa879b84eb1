//! Schema discovery: a device's manifest, fetched in pieces over the core and over the host
//! runtime, always the bytes `service!` built and hashing to what the handshake says.

use std::time::Duration;

use wirecall::{CallError, Config, Instant};
use wirecall_adapters::host::{serve_tcp, Capacity, Client, ClientError, ClientOptions, Link};
use wirecall_tests::demo::demo;
use wirecall_tests::engine::Owned;
use wirecall_tests::pair::{Pair, Serve, Side};

use crate::common::{device_config, host_config, Host, Mcu};

/// Fetches the device's manifest piece by piece through the host endpoint of `p`.
fn fetch(p: &mut Pair) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        p.a.ep.request_manifest(out.len() as u32).unwrap();
        p.run_for(std::time::Duration::from_millis(50));
        let pieces: Vec<_> =
            p.a.take_events()
                .into_iter()
                .filter_map(|e| match e {
                    Owned::ManifestPiece {
                        total,
                        offset,
                        bytes,
                    } => Some((total, offset, bytes)),
                    _ => None,
                })
                .collect();
        let [(total, offset, bytes)] = &pieces[..] else {
            panic!("one piece per request, got {pieces:?} at {}", out.len());
        };
        assert_eq!(*offset as usize, out.len());
        assert!(!bytes.is_empty() || out.len() == *total as usize);
        out.extend_from_slice(bytes);
        if out.len() >= *total as usize {
            assert_eq!(out.len(), *total as usize);
            return out;
        }
    }
}

#[test]
fn the_demo_manifest_is_fetched_in_pieces_and_hashes_to_the_handshake() {
    // The smallest frames a device may have make the demo manifest take several pieces.
    let device = device_config().with_max_frame(wirecall::MIN_MAX_FRAME as u32);
    let mut p = Pair::new(
        Side::new(Host::new(Instant::ZERO, host_config()), Serve::Hold),
        Side::new(Mcu::new(Instant::ZERO, device), Serve::Dispatch),
    );
    p.connect();
    p.a.take_events();
    let peer = p.a.ep.peer().unwrap();
    assert!(peer.manifest);
    assert_eq!(peer.schema, demo::SCHEMA_HASH);
    assert!(
        demo::MANIFEST.len() > wirecall::MIN_MAX_FRAME,
        "{}",
        demo::MANIFEST.len()
    );
    let got = fetch(&mut p);
    assert_eq!(got, demo::MANIFEST);
    assert_eq!(wirecall::manifest_hash(&got), peer.schema);
    // Asking past the end gets the length and no bytes.
    p.a.ep.request_manifest(100_000).unwrap();
    p.run_for(std::time::Duration::from_millis(50));
    assert!(p.a.take_events().iter().any(|e| matches!(
        e,
        Owned::ManifestPiece { total, offset: 100_000, bytes } if *total as usize == demo::MANIFEST.len() && bytes.is_empty()
    )));
}

#[test]
fn a_peer_without_a_manifest_is_not_asked() {
    let mut p = Pair::new(
        Side::new(Host::new(Instant::ZERO, Config::default()), Serve::Hold),
        Side::new(Mcu::new(Instant::ZERO, Config::default()), Serve::Dispatch),
    );
    p.a.ep.request_manifest(0).unwrap_err();
    p.connect();
    assert!(!p.a.ep.peer().unwrap().manifest);
    assert_eq!(p.a.ep.request_manifest(0), Err(CallError::Unsupported));
    // And a side that serves none advertises none: the device asks the host.
    assert_eq!(p.b.ep.request_manifest(0), Err(CallError::Unsupported));
}

fn demo_server(max_frame: usize) -> (wirecall_adapters::host::ServerHandle, std::net::SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let options = wirecall_adapters::host::ServeOptions {
        capacity: Capacity {
            max_frame,
            max_calls: 4,
        },
        ..wirecall_adapters::host::ServeOptions::from(
            Config::default().with_manifest(&demo::MANIFEST),
        )
    };
    let server = serve_tcp(listener, wirecall_tests::demo::host_handler, options).unwrap();
    (server, addr)
}

#[test]
fn a_host_client_fetches_the_manifest_over_tcp_in_small_frames() {
    let (server, addr) = demo_server(64);
    let client = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    let got = client.manifest(Some(Duration::from_secs(20))).unwrap();
    assert_eq!(got, demo::MANIFEST);
    assert_eq!(client.peer().unwrap().schema, demo::SCHEMA_HASH);
    drop(client);
    server.stop();
}

#[test]
fn a_host_client_is_told_when_the_peer_serves_no_manifest() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = serve_tcp(
        listener,
        wirecall_tests::demo::host_handler,
        Config::default(),
    )
    .unwrap();
    let client = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    assert_eq!(
        client.manifest(Some(Duration::from_secs(20))),
        Err(ClientError::NoManifest)
    );
    drop(client);
    server.stop();
}

mod derived {
    use serde::{Deserialize, Serialize};
    use wirecall::{Field, Schema, Type, Variant, VariantShape};

    #[derive(Serialize, Deserialize, Schema)]
    pub struct Point {
        pub x: i16,
        pub r#type: Option<u8>,
    }

    #[derive(Serialize, Deserialize, Schema)]
    pub struct Meters(pub f32);

    #[derive(Serialize, Deserialize, Schema)]
    pub struct Pair(pub u8, pub bool);

    #[derive(Serialize, Deserialize, Schema)]
    pub struct Nothing;

    #[derive(Serialize, Deserialize, Schema)]
    pub enum Mode {
        Off,
        Level(u8),
        Span(u8, u8),
        Blink { hz: u16 },
    }

    #[derive(Serialize, Deserialize, Schema)]
    pub struct Tagged<T> {
        pub tag: T,
    }

    #[test]
    fn derived_descriptions_follow_serde_s_default_encoding() {
        assert_eq!(
            Point::TYPE,
            &Type::Struct {
                name: "Point",
                fields: &[
                    Field {
                        name: "x",
                        ty: &Type::I16
                    },
                    // A raw identifier is encoded without its `r#`.
                    Field {
                        name: "type",
                        ty: &Type::Option(&Type::U8)
                    },
                ],
            }
        );
        assert_eq!(
            Meters::TYPE,
            &Type::Newtype {
                name: "Meters",
                inner: &Type::F32
            }
        );
        assert_eq!(
            Pair::TYPE,
            &Type::TupleStruct {
                name: "Pair",
                fields: &[&Type::U8, &Type::Bool]
            }
        );
        assert_eq!(Nothing::TYPE, &Type::UnitStruct { name: "Nothing" });
        assert_eq!(
            Mode::TYPE,
            &Type::Enum {
                name: "Mode",
                variants: &[
                    Variant {
                        name: "Off",
                        shape: VariantShape::Unit
                    },
                    Variant {
                        name: "Level",
                        shape: VariantShape::Newtype(&Type::U8)
                    },
                    Variant {
                        name: "Span",
                        shape: VariantShape::Tuple(&[&Type::U8, &Type::U8])
                    },
                    Variant {
                        name: "Blink",
                        shape: VariantShape::Struct(&[Field {
                            name: "hz",
                            ty: &Type::U16
                        }]),
                    },
                ],
            }
        );
        assert_eq!(
            <Tagged<heapless::String<8>>>::TYPE,
            &Type::Struct {
                name: "Tagged",
                fields: &[Field {
                    name: "tag",
                    ty: &Type::String { max: 8 }
                }],
            }
        );
        // Bounds come from the containers; std's have none.
        assert_eq!(
            <heapless::Vec<u8, 200>>::TYPE,
            &Type::Seq {
                max: 200,
                item: &Type::U8
            }
        );
        assert_eq!(
            <Vec<String>>::TYPE,
            &Type::Seq {
                max: 0,
                item: &Type::String { max: 0 }
            }
        );
        assert_eq!(
            <[u8; 4]>::TYPE,
            &Type::Array {
                len: 4,
                item: &Type::U8
            }
        );
        assert_eq!(<(u8, i64)>::TYPE, &Type::Tuple(&[&Type::U8, &Type::I64]));
    }
}

/// The tokio flavour fetches the same manifest, from a blocking server with small frames
/// and from a tokio server; and is told when the peer serves none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_client_fetches_the_manifest_too() {
    use wirecall_adapters::host::tokio::{serve, AsyncClient, Inline};
    let (server, addr) = demo_server(64);
    let client = AsyncClient::over(
        tokio::net::TcpStream::connect(addr).await.unwrap(),
        Config::default(),
    );
    let got = client
        .manifest(Some(Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(got, demo::MANIFEST);
    drop(client);
    server.stop();

    for (config, want) in [
        (
            Config::default().with_manifest(&demo::MANIFEST),
            Ok(demo::MANIFEST.to_vec()),
        ),
        (Config::default(), Err(ClientError::NoManifest)),
    ] {
        let (a, b) = tokio::io::duplex(4096);
        let handler = Inline(Box::new(
            |_: u32, _: &[u8]| -> Result<Vec<u8>, (wirecall::WireError, String)> { Ok(vec![]) },
        ));
        tokio::spawn(serve(b, handler, config));
        let client = AsyncClient::over(a, Config::default());
        assert_eq!(client.manifest(Some(Duration::from_secs(20))).await, want);
    }
}

/// A flood of manifest requests (9 bytes each on the wire, each asking for a piece of up to
/// a whole frame) holds at most one piece in the device's transmit queue: the requests
/// coalesce, and the device's own answers still get out.
#[test]
fn a_flood_of_manifest_requests_queues_one_piece_at_a_time() {
    use wirecall_tests::raw;
    let mut device = Mcu::new(Instant::ZERO, device_config());
    let mut sink = [0u8; 1024];
    while device.poll_transmit(&mut sink) > 0 {} // its Hello
    let hello = raw::frame(&[
        0x21, 1, 1, 3, 0x80, 8, 16, 16, 0xe8, 7, 0, 0, 0, 0, 0x88, 0x27, 8,
    ]);
    assert_eq!(device.handle_input(Instant::ZERO, &hello), hello.len());
    while device.poll_event().is_some() {}
    assert!(device.is_connected());
    let mut flood = Vec::new();
    for _ in 0..50 {
        flood.extend(raw::frame(&[0x0e, 0x00]));
    }
    flood.extend(raw::frame(&[0x02, 0x01, 0x00, 0x02, 0x04])); // and a call: add(1, 2)
    let mut fed = &flood[..];
    while !fed.is_empty() {
        let n = device.handle_input(Instant::ZERO, fed);
        fed = &fed[n..];
        while let Some(ev) = device.poll_event() {
            if let wirecall::Event::Request { id, .. } = ev {
                device.respond(id, &[6]).unwrap();
            }
        }
        if n == 0 {
            // Backpressure: the queue is full; what leaves is not looked at here.
            let _ = device.poll_transmit(&mut sink);
        }
    }
    let mut out = Vec::new();
    loop {
        let n = device.poll_transmit(&mut sink);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&sink[..n]);
    }
    let frames = raw::unframe(&out);
    let pieces = frames
        .iter()
        .filter(|f| f.as_ref().is_some_and(|f| f[0] == 0x2e))
        .count();
    let replies = frames
        .iter()
        .filter(|f| f.as_ref().is_some_and(|f| f[..] == [0x03, 0x01, 0x06]))
        .count();
    assert_eq!((pieces, replies), (2, 1), "{frames:?}");
}

/// Threads that fetch the manifest at once over one client each get all of it (fetches take
/// turns: the session takes one fetch's pieces at a time).
#[test]
fn concurrent_fetches_on_one_client_each_get_the_manifest() {
    let (server, addr) = demo_server(48);
    let client = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    let fetches: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || client.manifest(Some(Duration::from_secs(30))))
        })
        .collect();
    for f in fetches {
        assert_eq!(f.join().unwrap().unwrap(), demo::MANIFEST);
    }
    drop(client);
    server.stop();
}
