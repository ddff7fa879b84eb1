//! Schema discovery at its edges: a due piece and the end of its session, a piece that does
//! not fit the transmit queue, huge timeouts, descriptions of odd types, raw identifiers.

use wirecall::{Duration, Event, Instant};
use wirecall_tests::raw;

use crate::common::{device_config, Mcu};

fn drain(device: &mut Mcu) -> Vec<u8> {
    let mut sink = [0u8; 4096];
    let mut out = Vec::new();
    loop {
        let n = device.poll_transmit(&mut sink);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&sink[..n]);
    }
}

fn connected_device(peer_max_frame: u32) -> Mcu {
    let mut device = Mcu::new(Instant::ZERO, device_config());
    drain(&mut device);
    let mut hello = vec![0x21, 1, 1, 3];
    for v in [peer_max_frame, 8, 8, 1000] {
        hello.extend(raw::varint(v));
    }
    hello.extend([0, 0, 0, 0, 0x88, 0x27, 8]);
    let used = device.handle_input(Instant::ZERO, &raw::frame(&hello));
    assert!(used > 0);
    while device.poll_event().is_some() {}
    assert!(device.is_connected());
    device
}

/// A piece still due when the session ends goes out after it: while Handshaking, sized by
/// this side's own frame limit instead of the peer's (48 here).
#[test]
fn a_due_piece_outlives_its_session() {
    let mut device = connected_device(48);
    let mut input = raw::frame(&[0x0e, 0x00]);
    input.extend(raw::frame(&[0x0e, 0x00])); // the second stays due behind the first
    input.extend(raw::frame(&[0x07, 13])); // then the peer closes (Closed: not final)
    let mut fed = &input[..];
    while !fed.is_empty() {
        let n = device.handle_input(Instant::ZERO, fed);
        fed = &fed[n..];
        while device.poll_event().is_some() {}
    }
    assert!(!device.is_connected());
    let out = drain(&mut device);
    let frames: Vec<Vec<u8>> = raw::unframe(&out).into_iter().flatten().collect();
    let kinds: Vec<(u8, usize)> = frames.iter().map(|f| (f[0], f.len() + 4)).collect();
    // Expected without the bug: one piece (<= 48 bytes) and the initial Hello, nothing after.
    let after_hello = frames
        .iter()
        .skip_while(|f| f[0] != 0x01)
        .filter(|f| f[0] == 0x2e)
        .count();
    assert_eq!(
        after_hello, 0,
        "a piece was sent while handshaking: {kinds:?}"
    );
    assert!(
        frames.iter().all(|f| f.len() + 4 <= 48),
        "a frame over the peer's 48-byte limit: {kinds:?}"
    );
}

/// A due piece that does not fit the transmit queue holds back a keepalive ping that does.
#[test]
fn a_due_piece_blocks_smaller_control_frames() {
    let mut device = connected_device(1024);
    // Two requests answered with large replies fill most of the 576-byte queue.
    for id in [1u32, 2] {
        let frame = raw::frame(&raw::request(id, 0, &[2, 4]));
        assert_eq!(device.handle_input(Instant::ZERO, &frame), frame.len());
        let mut rid = None;
        while let Some(ev) = device.poll_event() {
            if let Event::Request { id, .. } = ev {
                rid = Some(id);
            }
        }
        device.respond(rid.unwrap(), &[0x55u8; 235][..]).unwrap();
    }
    let free_before = 576 - device.transmit_pending();
    assert!((20..100).contains(&free_before), "{free_before}");
    let request = raw::frame(&[0x0e, 0x00]);
    assert_eq!(device.handle_input(Instant::ZERO, &request), request.len());
    while device.poll_event().is_some() {}
    let pending = device.transmit_pending();
    // A keepalive interval later with nothing received: a ping is due, and there is room.
    device.handle_timeout(Instant::ZERO + Duration::from_millis(1001));
    let pings_sent = device.stats().pings_sent;
    assert_eq!(
        (device.transmit_pending() > pending, pings_sent),
        (true, 1),
        "the ping stays due behind a piece that does not fit ({} bytes free)",
        576 - pending
    );
}

/// `Client::manifest` with a huge timeout: every other deadline in the host is capped.
#[test]
fn manifest_with_duration_max_does_not_panic() {
    use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Link};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = serve_tcp(
        listener,
        wirecall_tests::demo::host_handler,
        device_config(),
    )
    .unwrap();
    let client = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        client.manifest(Some(std::time::Duration::MAX))
    }));
    assert!(
        got.is_ok(),
        "Client::manifest(Some(Duration::MAX)) panicked"
    );
    drop(client);
    server.stop();
}

mod writer_edges {
    use serde::{Deserialize, Serialize};
    use wirecall::Schema;
    use wirecall_schema::{decode_output, encode_output, Manifest};

    #[derive(Serialize, Deserialize, Schema)]
    pub enum Never {}

    #[derive(Serialize, Deserialize, Schema, Debug, PartialEq)]
    pub enum Odd {
        A {},
        B(),
        C([[u8; 2]; 3]),
        D(Option<Option<u8>>),
    }

    #[derive(Serialize, Deserialize, Schema, Debug, PartialEq)]
    pub struct Empty();

    wirecall::service! {
        pub mod edges {
            0 => Odd: fn odd(a: super::Odd, e: super::Empty) -> super::Odd;
            1 => Never: fn never(n: Option<super::Never>) -> ();
        }
    }

    #[test]
    fn edge_manifest_round_trips() {
        let m = Manifest::parse(&edges::MANIFEST).expect("parses");
        assert_eq!(m.to_bytes(), edges::MANIFEST.to_vec());
        let odd = m.procedure("odd").unwrap();
        for v in [
            Odd::A {},
            Odd::B(),
            Odd::C([[1, 2], [3, 4], [5, 6]]),
            Odd::D(Some(Some(7))),
            Odd::D(None),
        ] {
            let bytes = postcard::to_allocvec(&v).unwrap();
            let json = decode_output(odd, &bytes).unwrap();
            assert_eq!(encode_output(odd, &json).unwrap(), bytes, "{v:?} {json}");
        }
        // Some(None) is the one value JSON cannot tell from None (wirecall-schema's docs).
    }
}

mod raw_idents {
    use serde::{Deserialize, Serialize};
    use wirecall::{Schema, Type};

    #[allow(non_camel_case_types)]
    #[derive(Serialize, Deserialize, Schema)]
    pub enum Kw {
        r#match,
        r#loop(u8),
    }

    wirecall::service! {
        pub mod raw {
            0 => Type: fn r#type(r#in: super::Kw) -> u8;
        }
    }

    #[test]
    fn raw_variant_names_match_serde() {
        let Type::Enum { variants, .. } = Kw::TYPE else {
            panic!()
        };
        let serde_name = serde_json::to_string(&Kw::r#match).unwrap();
        assert_eq!(format!("\"{}\"", variants[0].name), serde_name);
        // Procedure and parameter names in the manifest lose their `r#` too.
        let m = wirecall_schema::Manifest::parse(&raw::MANIFEST).unwrap();
        assert_eq!(
            wirecall_schema::signature(&m.procedures[0]),
            "type(in: Kw) -> u8"
        );
    }
}

/// Manifests with handles (format 2) as `wirecall-schema` reads them: the demo service's
/// `open(..) -> handle Channel`, and a handle of any interface in a format-1 manifest.
mod handles {
    use serde_json::json;
    use wirecall_schema::{decode_output, signature, Manifest, Type, FORMAT, FORMAT_INTERFACES};
    use wirecall_tests::calc::calc;
    use wirecall_tests::demo::demo;

    #[test]
    fn the_demo_manifest_with_its_interface_round_trips_byte_for_byte() {
        let m = Manifest::parse(&demo::MANIFEST).expect("parses");
        assert_eq!(m.to_bytes(), demo::MANIFEST.to_vec());
        assert_eq!((demo::MANIFEST[0], m.format()), (FORMAT_INTERFACES, 2));
        let open = m.procedure("open").unwrap();
        assert_eq!(open.id, 6);
        assert_eq!(signature(open), "open(name: String<16>) -> handle Channel");
        let channel = m.returned_interface(open).expect("Channel is declared");
        let methods: Vec<(u32, String)> = channel
            .methods
            .iter()
            .map(|p| (p.id, signature(p)))
            .collect();
        assert_eq!(
            methods,
            [
                (0, "read() -> i32".to_string()),
                (1, "configure(scale: i32) -> i32".to_string()),
                (2, "name() -> String<16>".to_string()),
            ]
        );
        // A handle in a reply, as the runtime writes it, decodes by the manifest.
        let bytes = postcard::to_allocvec(&wirecall::Handle::new(3, 7)).unwrap();
        assert_eq!(
            decode_output(open, &bytes).unwrap(),
            json!({"handle": "Channel", "slot": 3, "generation": 7})
        );
    }

    #[test]
    fn a_service_without_interfaces_keeps_format_1_byte_for_byte() {
        let m = Manifest::parse(&calc::MANIFEST).expect("parses");
        assert_eq!((calc::MANIFEST[0], m.format()), (FORMAT, 1));
        assert!(m.interfaces.is_empty());
        assert_eq!(m.to_bytes(), calc::MANIFEST.to_vec());
    }

    wirecall::service! {
        pub mod holder {
            0 => Keep: fn keep(h: wirecall::Handle) -> wirecall::Handle;
        }
    }

    #[test]
    fn a_handle_of_any_interface_needs_no_interface() {
        assert_eq!(holder::MANIFEST[0], FORMAT);
        let m = Manifest::parse(&holder::MANIFEST).expect("parses");
        assert_eq!(m.procedures[0].output, Type::handle(""));
        assert_eq!(signature(&m.procedures[0]), "keep(h: handle) -> handle");
        assert_eq!(m.to_bytes(), holder::MANIFEST.to_vec());
    }
}
