//! The Rust host client calling a JavaScript server: `js/examples/server.js` declares the
//! `calc` service with the npm package (js/: the Rust core compiled to WebAssembly) and
//! serves it on its stdio. Its manifest is byte for byte the one `service!` builds for the
//! Rust declaration, so the generated typed client (which checks the schema hash on every
//! call) calls it as it calls the Rust server: every shape of procedure, errors and the
//! manifest.
//!
//! It needs `node` (20 or later) and the package's WebAssembly build (`js/build.sh` writes
//! js/dist). Without them the tests say so and pass; `WIRECALL_REQUIRE_NODE=1` makes their
//! absence a failure (as `WIRECALL_REQUIRE_FIRMWARE` does for the firmware's tests).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use wirecall::WireError;
use wirecall_adapters::host::{Client, ClientError, ClientOptions, Link};
use wirecall_tests::calc::calc;

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../js")
}

/// `node js/examples/server.js`, or `None` (after saying why) when node or the WebAssembly
/// build is missing and `WIRECALL_REQUIRE_NODE` is not `1`.
fn node_calc() -> Option<Command> {
    let js = js_dir();
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let built = js.join("dist/wirecall_wasm_bg.wasm").exists();
    if !(node && built) {
        let why = if node {
            "js/dist is missing (run js/build.sh)"
        } else {
            "node is not installed"
        };
        assert!(
            std::env::var("WIRECALL_REQUIRE_NODE").as_deref() != Ok("1"),
            "WIRECALL_REQUIRE_NODE=1, and {why}"
        );
        eprintln!("skipped: {why}");
        return None;
    }
    let mut command = Command::new("node");
    command.arg("examples/server.js").current_dir(js);
    Some(command)
}

fn options() -> ClientOptions {
    ClientOptions {
        config: wirecall::Config::default().expecting_schema(calc::SCHEMA_HASH),
        reconnect: false,
        ..ClientOptions::default()
    }
}

#[test]
fn the_typed_rust_client_calls_a_node_server_over_its_stdio() {
    let Some(command) = node_calc() else { return };
    let raw = Client::over(Link::spawn(command).unwrap(), options()).unwrap();
    assert_eq!(raw.manifest(None).unwrap(), calc::MANIFEST.to_vec());
    assert_eq!(raw.peer().map(|p| p.schema), Some(calc::SCHEMA_HASH));
    let client = calc::Client::new(raw.clone());
    crate::typed_glue::every_shape(&client);
    // State kept by the server between calls.
    assert_eq!(client.hits(), Ok(0));
    assert_eq!(client.add(1, 2), Ok(3));
    assert_eq!(client.hits(), Ok(1));
    drop((client, raw)); // the child's process group is killed and reaped with the link
}

#[test]
fn a_node_server_answers_raw_calls_it_cannot_serve_with_explicit_errors() {
    let Some(command) = node_calc() else { return };
    let raw = Client::over(Link::spawn(command).unwrap(), options()).unwrap();
    match raw.call(99, &[], None) {
        Err(ClientError::Remote(WireError::UnknownProcedure, detail)) => {
            assert!(detail.contains("0 = add"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    // One byte where two i32s are due: the codec's message names the procedure.
    match raw.call(0, &[2], None) {
        Err(ClientError::Remote(WireError::BadArguments, detail)) => {
            assert!(detail.contains("add"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    // A stream called as a plain call.
    match raw.call(4, &[3], None) {
        Err(ClientError::Remote(WireError::BadArguments, detail)) => {
            assert!(detail.contains("upto is a server stream"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    // And the session goes on.
    assert_eq!(calc::Client::new(raw.clone()).add(1, 2), Ok(3));
}
