//! Calling any device by name: `list`, `call` and `stream` bound at run time to what the
//! device says it serves (its manifest), arguments from the command line, a file or stdin,
//! wrong arguments refused before anything is sent, a cached description replaced when the
//! device changes, and the example firmware under QEMU. Every process started here is
//! stopped by its pid (the guards kill and reap on drop).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{call, serve, stderr, stdout, stream, BIN};
use wirecall::{Config, WireError};
use wirecall_adapters::host::{serve_tcp, ServerHandle};
use wirecall_example_service::device;
use wirecall_tests::demo::demo;

/// Runs `wirecall list ARGS` to its end.
fn list(args: &[&str]) -> Output {
    Command::new(BIN).arg("list").args(args).output().unwrap()
}

/// A temporary directory for one test's cache, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("wirecall-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn list_prints_signatures_and_json() {
    let (_server, addr) = serve(&["--tcp", "127.0.0.1:0"]);
    let o = list(&["--tcp", &addr]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for want in [
        format!(
            "demo (schema 0x{:08X}, 7 procedures, 1 interface)",
            demo::SCHEMA_HASH
        ),
        "0  add(a: i32, b: i32) -> i32".into(),
        "1  echo(data: Vec<u8, 200>) -> Vec<u8, 200>".into(),
        "5  count(n: u32) -> stream u32".into(),
    ] {
        assert!(out.contains(&want), "{want} not in\n{out}");
    }
    let o = list(&["--tcp", &addr, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["schema"], format!("0x{:08X}", demo::SCHEMA_HASH));
    let procs = v["manifest"]["procedures"].as_array().unwrap();
    let names: Vec<_> = procs.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["add", "echo", "fail", "huge", "sleep", "count", "open"]
    );
    assert_eq!(procs[1]["params"][0]["type"]["max"], 200);
}

#[test]
fn arguments_come_from_the_command_line_a_file_or_stdin() {
    let (_server, addr) = serve(&["--tcp", "127.0.0.1:0"]);
    let dir = TempDir::new("args");
    let file = dir.0.join("args.json");
    std::fs::write(&file, r#"{"a": 40, "b": 2}"#).unwrap();
    let o = call(&["--tcp", &addr, "add", &format!("@{}", file.display())]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "42".into()),
        "{}",
        stderr(&o)
    );
    let mut child = Command::new(BIN)
        .args(["call", "--tcp", &addr, "add", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"[20, 22]\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "42".into()),
        "{}",
        stderr(&o)
    );
    let o = call(&["--tcp", &addr, "add", "@/nonexistent/args.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read the arguments from /nonexistent/args.json"),
        "{}",
        stderr(&o)
    );
    std::fs::write(&file, "[1, ").unwrap();
    let o = call(&["--tcp", &addr, "add", &format!("@{}", file.display())]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("are not JSON"), "{}", stderr(&o));
}

/// A demo-manifest server whose handler counts the requests it gets.
fn counting_server() -> (ServerHandle, String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let server = serve_tcp(
        listener,
        move || {
            let seen = seen.clone();
            Box::new(
                move |_: u32, _: &[u8]| -> Result<Vec<u8>, (WireError, String)> {
                    seen.fetch_add(1, Ordering::SeqCst);
                    Ok(vec![])
                },
            )
        },
        Config::default().with_manifest(&demo::MANIFEST),
    )
    .unwrap();
    (server, addr, count)
}

#[test]
fn wrong_arguments_get_a_clear_error_and_send_nothing() {
    let (server, addr, count) = counting_server();
    let too_many = format!("[{}]", vec!["1"; 201].join(","));
    for (proc_, args, want) in [
        ("add", r#"{"a": 1}"#, "add: missing field b"),
        ("add", r#"{"a": 1, "b": 2, "c": 3}"#, "add: unknown field c"),
        ("add", r#"[1, 2, 3]"#, "add: expected 2 arguments"),
        ("add", r#"["x", 2]"#, "expected i32"),
        ("add", r#"[2147483648, 2]"#, "does not fit i32"),
        ("echo", "[300]", "echo: 300 does not fit u8 at [0]"),
        ("echo", &too_many, "echo: at most 200 items, got 201"),
        ("echo", r#""0xabc""#, "hex"),
        ("sleep", r#"{"ms": -1}"#, "does not fit u32"),
    ] {
        let o = call(&["--tcp", &addr, proc_, args]);
        assert_eq!(o.status.code(), Some(2), "{proc_} {args}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(want),
            "{proc_} {args}: {want} not in {}",
            stderr(&o)
        );
    }
    let o = stream(&["--tcp", &addr, "count", r#"{"n": 1, "m": 2}"#]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("unknown field m"), "{}", stderr(&o));
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "a request reached the device"
    );
    // The same server does get a call whose arguments are right.
    let o = call(&["--tcp", &addr, "fail"]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "null".into()),
        "{}",
        stderr(&o)
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
    server.stop();
}

/// A host serving the example firmware's service (only its `add`) on `listener`.
fn device_server(listener: TcpListener) -> ServerHandle {
    serve_tcp(
        listener,
        || {
            Box::new(|procedure: u32, args: &[u8]| match procedure {
                0 => {
                    let (a, b): (i32, i32) = postcard::from_bytes(args)
                        .map_err(|_| (WireError::BadArguments, String::new()))?;
                    Ok(postcard::to_allocvec(&a.wrapping_add(b)).unwrap())
                }
                _ => Err((WireError::UnknownProcedure, String::new())),
            })
        },
        Config::default().with_manifest(&device::MANIFEST),
    )
    .unwrap()
}

#[test]
fn a_stale_cached_description_is_noticed_by_the_handshake_and_fetched_again() {
    let cache = TempDir::new("cache");
    let with_cache = |cmd: &str, args: &[&str]| {
        Command::new(BIN)
            .env("WIRECALL_CACHE_DIR", &cache.0)
            .arg(cmd)
            .args(args)
            .output()
            .unwrap()
    };
    let (server, addr, _) = counting_server();
    let o = with_cache("list", &["--tcp", &addr]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let cached = cache
        .0
        .join(format!("manifests/{:08x}.bin", demo::SCHEMA_HASH));
    assert_eq!(std::fs::read(&cached).unwrap(), demo::MANIFEST);
    // Again: from the cache, nothing to say.
    let o = with_cache("list", &["--tcp", &addr]);
    assert_eq!((o.status.code(), stderr(&o)), (Some(0), String::new()));
    // The device is "re-flashed": another service on the same address.
    server.stop();
    let server = device_server(TcpListener::bind(&addr).unwrap());
    let o = with_cache("call", &["--tcp", &addr, "add", "[40, 2]"]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "42".into()),
        "{}",
        stderr(&o)
    );
    let told = format!(
        "the device now serves schema 0x{:08X} (0x{:08X} when last seen): fetching its description",
        device::SCHEMA_HASH,
        demo::SCHEMA_HASH
    );
    assert!(stderr(&o).contains(&told), "{}", stderr(&o));
    let fresh = cache
        .0
        .join(format!("manifests/{:08x}.bin", device::SCHEMA_HASH));
    assert_eq!(std::fs::read(&fresh).unwrap(), device::MANIFEST);
    // A damaged cached copy is not believed: it is fetched again.
    std::fs::write(&fresh, b"\x01garbage").unwrap();
    let o = with_cache("call", &["--tcp", &addr, "add", "[1, 2]"]);
    assert_eq!(stdout(&o), "3", "{}", stderr(&o));
    assert_eq!(std::fs::read(&fresh).unwrap(), device::MANIFEST);
    server.stop();
}

#[test]
fn a_peer_that_serves_no_description_is_told_apart() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = serve_tcp(
        listener,
        || Box::new(|_: u32, _: &[u8]| -> Result<Vec<u8>, (WireError, String)> { Ok(vec![]) }),
        Config::default(),
    )
    .unwrap();
    let o = call(&["--tcp", &addr, "--no-cache", "add", "[1, 2]"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("does not describe itself"),
        "{}",
        stderr(&o)
    );
    server.stop();
}

/// The example firmware under QEMU, its UART on a pty: listed, called and streamed by
/// name by a command that was never built for it.
#[test]
fn the_qemu_firmware_is_listed_called_and_streamed_by_name() {
    let qemu = wirecall_tests::qemu::Qemu::with_pty();
    qemu.resume();
    let pty = qemu.serial.to_str().unwrap().to_string();
    let link = [
        "--serial",
        pty.as_str(),
        "--baud",
        "115200",
        "--no-cache",
        "--timeout",
        "20s",
    ];
    let o = list(&link);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for want in [
        format!(
            "device (schema 0x{:08X}, 10 procedures, 1 interface)",
            device::SCHEMA_HASH
        ),
        "2  info() -> DeviceInfo".into(),
        "6  sample(hz: u32, count: u32) -> stream Reading".into(),
        "struct DeviceInfo { firmware: String<24>, uptime_ms: u64,".into(),
    ] {
        assert!(out.contains(&want), "{want} not in\n{out}");
    }
    let with = |cmd: fn(&[&str]) -> Output, rest: &[&str]| cmd(&[&link[..], rest].concat());
    let o = with(call, &["add", "[20, 22]"]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "42".into()),
        "{}",
        stderr(&o)
    );
    let o = with(call, &["set_level", "[7]"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = with(call, &["set_level", r#"{"level": 9}"#]);
    assert_eq!(stdout(&o), "7", "{}", stderr(&o));
    let o = with(call, &["info"]);
    let info: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        info["firmware"].as_str().unwrap().contains("wirecall"),
        "{info}"
    );
    assert!(info["frames_in"].as_u64().unwrap() > 0, "{info}");
    let o = with(stream, &["sample", r#"{"hz": 200, "count": 3}"#]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{}", stdout(&o));
    assert_eq!(lines[2]["seq"], 2);
    let o = with(call, &["echo", &format!("[{}]", vec!["7"; 65].join(","))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("echo: at most 64 items, got 65"),
        "{}",
        stderr(&o)
    );
}

wirecall::service! {
    /// Streams that take the caller's items, for `wirecall stream` with stdin.
    pub mod tally {
        /// Adds up the numbers it is sent (a client stream).
        0 => Sum: fn sum(stream u32) -> u64;
        /// Sends back each number doubled (both ways).
        1 => Double: fn double(stream u32) -> stream u32;
    }
}

struct Tally;

impl wirecall_adapters::host::Handler for Tally {
    fn handle(&self, _: u32, _: &[u8]) -> Result<Vec<u8>, (WireError, String)> {
        Err((WireError::UnknownProcedure, String::new()))
    }

    fn serve(
        &self,
        r: &mut wirecall_adapters::host::Request<'_>,
    ) -> Result<Vec<u8>, (WireError, String)> {
        let lost = |e: wirecall_adapters::host::ClientError| (WireError::Cancelled, e.to_string());
        match r.procedure() {
            0 => {
                let mut total = 0u64;
                while let Some(x) = r.recv_typed::<tally::Sum>() {
                    total += u64::from(x.map_err(lost)?);
                }
                Ok(postcard::to_allocvec(&total).unwrap())
            }
            1 => {
                while let Some(x) = r.recv_typed::<tally::Double>() {
                    r.send_typed::<tally::Double>(&(x.map_err(lost)? * 2))
                        .map_err(lost)?;
                }
                Ok(Vec::new())
            }
            _ => Err((WireError::UnknownProcedure, String::new())),
        }
    }
}

/// Runs `wirecall stream ARGS` with `input` on its stdin.
fn stream_with_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("stream")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn streams_that_take_items_read_them_from_stdin() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = serve_tcp(
        listener,
        || Box::new(Tally),
        Config::default().with_manifest(&tally::MANIFEST),
    )
    .unwrap();
    let link = ["--tcp", addr.as_str(), "--no-cache"];
    let o = stream_with_stdin(&[&link[..], &["sum"]].concat(), "1\n2\n\n39\n");
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "42".into()),
        "{}",
        stderr(&o)
    );
    let o = stream_with_stdin(&[&link[..], &["double"]].concat(), "1\n2\n3\n");
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "2\n4\n6".into()),
        "{}",
        stderr(&o)
    );
    // Far more items than the window: what comes back is taken between sends, so neither
    // side waits for the other's credit.
    let input: String = (0..300).map(|i| format!("{i}\n")).collect();
    let o = stream_with_stdin(&[&link[..], &["double"]].concat(), &input);
    let want: Vec<String> = (0..300).map(|i| (2 * i).to_string()).collect();
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), want.join("\n")),
        "{}",
        stderr(&o)
    );
    // A line that is no item of the stream's type stops it, saying which line.
    let o = stream_with_stdin(&[&link[..], &["sum"]].concat(), "1\n-2\n");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("line 2: ") && stderr(&o).contains("does not fit u32"),
        "{}",
        stderr(&o)
    );
    let o = stream_with_stdin(&[&link[..], &["sum", "-"]].concat(), "");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("reads its items from stdin"),
        "{}",
        stderr(&o)
    );
    server.stop();
}
