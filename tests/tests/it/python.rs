//! The Rust host client calling a Python server: `python/tests/calc_twin.py` declares the
//! `calc` service with the `wirecall` Python package (python/), and runs as a child process
//! on its stdio. Its manifest is byte for byte the one `service!` builds for the Rust
//! declaration, so the generated typed client (which checks the schema hash on every call)
//! calls it as it calls the Rust server: every shape of procedure, errors and the manifest.
//! The package is pure Python with the standard library only: `PYTHONPATH` is all it needs.

use std::path::PathBuf;
use std::process::Command;

use wirecall::WireError;
use wirecall_adapters::host::{Client, ClientError, ClientOptions, Link};
use wirecall_tests::calc::calc;

fn python_calc() -> Command {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../python");
    let mut command = Command::new("python3");
    command
        .args(["-m", "calc_twin"])
        .current_dir(python.join("tests"))
        .env("PYTHONPATH", python.join("src"));
    command
}

#[test]
fn the_typed_rust_client_calls_a_python_module_over_its_stdio() {
    let options = ClientOptions {
        config: wirecall::Config::default().expecting_schema(calc::SCHEMA_HASH),
        reconnect: false,
        ..ClientOptions::default()
    };
    let raw = Client::over(Link::spawn(python_calc()).unwrap(), options).unwrap();
    assert_eq!(raw.manifest(None).unwrap(), calc::MANIFEST.to_vec());
    assert_eq!(raw.peer().map(|p| p.schema), Some(calc::SCHEMA_HASH));
    let client = calc::Client::new(raw.clone());

    assert_eq!(client.add(40, 2), Ok(42));
    assert_eq!(
        client.add(i32::MAX, 1),
        Err(ClientError::Remote(WireError::BadArguments, String::new()))
    );
    assert_eq!(client.chars("héllo wörld"), Ok(11));
    assert_eq!(client.checksum(&[1, 2, 3, 250]), Ok(256));
    let items: Vec<u32> = client.upto(500).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(items, (0..500).collect::<Vec<_>>());
    let mut total = client.total().unwrap();
    for i in 1..=100 {
        total.send(&i).unwrap();
    }
    total.end_items().unwrap();
    assert_eq!(total.finish(), Ok(5050));
    let mut scale = client.scale(3).unwrap();
    for i in 1..=20u32 {
        scale.send(&i).unwrap();
        assert_eq!(
            scale.next(),
            Some(Ok(3 * i)),
            "one answer per item, in step"
        );
    }
    scale.end_items().unwrap();
    assert_eq!(scale.finish(), Ok(()));
    assert_eq!(client.hits(), Ok(7));
    assert_eq!(client.reset(), Ok(()));
    assert_eq!(client.hits(), Ok(0));
    // Raw calls by number: the Python server's explicit errors.
    match raw.call(99, &[], None) {
        Err(ClientError::Remote(WireError::UnknownProcedure, _)) => {}
        other => panic!("{other:?}"),
    }
    match raw.call(0, &[2], None) {
        Err(ClientError::Remote(WireError::BadArguments, detail)) => {
            assert!(detail.contains("add"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    drop((client, raw)); // the child's process group is killed and reaped with the link
}
