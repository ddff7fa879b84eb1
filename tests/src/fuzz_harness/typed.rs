//! The typed decoders (`wirecall::decode_exact` through each procedure of the demo and calc
//! services) against the dynamic ones (`wirecall-schema`'s codec driven by the services'
//! manifests), and the manifest parser with the codec on manifests the fuzzer writes.

use serde_json::Value;
use wirecall::{Procedure, StreamProcedure};
use wirecall_schema::{
    decode_args, decode_in_item, decode_item, decode_output, decode_value, encode_args,
    encode_in_item, encode_item, encode_output, encode_value, Manifest,
};

use crate::{calc::calc, demo::demo};

/// One payload through both decoders of one procedure's arguments or result.
///
/// Oracle: the typed decoder (what a device's `dispatch` or a typed client runs) and the
/// dynamic one (what `wirecall call` runs) accept exactly the same payloads, and what they
/// accept they encode again to the same bytes (postcard's canonical form).
fn both<T: serde::Serialize>(
    what: &str,
    typed: Result<T, wirecall::DecodeError>,
    dynamic: Result<Value, wirecall_schema::CodecError>,
    encode: impl Fn(&Value) -> Result<Vec<u8>, wirecall_schema::CodecError>,
    bytes: &[u8],
) {
    match (typed, dynamic) {
        (Ok(t), Ok(json)) => {
            let canonical = postcard::to_allocvec(&t).expect("a decoded value encodes");
            let again = encode(&json)
                .unwrap_or_else(|e| panic!("{what}: {json} does not encode again: {e}"));
            assert_eq!(canonical, again, "{what}: {bytes:?} decoded as {json}");
        }
        (Err(_), Err(_)) => {}
        (t, d) => panic!(
            "{what}: typed {:?}, dynamic {d:?} for {bytes:?}",
            t.map(|_| ())
        ),
    }
}

/// The procedure called `P::NAME` in a manifest.
fn described<P: Procedure>(m: &Manifest) -> &wirecall_schema::Procedure {
    let p = m
        .procedure(P::NAME)
        .expect("the manifest lists every procedure");
    assert_eq!(p.id, P::ID);
    p
}

fn call<P: Procedure>(m: &Manifest, bytes: &[u8]) {
    let d = described::<P>(m);
    both(
        P::NAME,
        P::decode_args(bytes),
        decode_args(d, bytes),
        |j| encode_args(d, j),
        bytes,
    );
    both(
        P::NAME,
        P::output(bytes),
        decode_output(d, bytes),
        |j| encode_output(d, j),
        bytes,
    );
}

fn stream<P: StreamProcedure>(m: &Manifest, bytes: &[u8]) {
    call::<P>(m, bytes);
    let d = described::<P>(m);
    if P::MODE.server_sends() {
        both(
            P::NAME,
            P::decode_item(bytes),
            decode_item(d, bytes),
            |j| encode_item(d, j),
            bytes,
        );
    }
    if P::MODE.caller_sends() {
        both(
            P::NAME,
            P::decode_in_item(bytes),
            decode_in_item(d, bytes),
            |j| encode_in_item(d, j),
            bytes,
        );
    }
}

/// Decodes `bytes` with `decode`; what decodes must encode again, and decode to the same
/// value (the bytes may differ: postcard tolerates non-minimal varints).
fn round_trip(
    what: &str,
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Result<Value, wirecall_schema::CodecError>,
    encode: impl Fn(&Value) -> Result<Vec<u8>, wirecall_schema::CodecError>,
) {
    let Ok(json) = decode(bytes) else {
        return;
    };
    let again =
        encode(&json).unwrap_or_else(|e| panic!("{what}: {json} does not encode again: {e}"));
    assert!(
        again.len() <= bytes.len(),
        "{what}: {json} encodes longer than it was read"
    );
    let json2 = decode(&again)
        .unwrap_or_else(|e| panic!("{what}: {again:?} (from {json}) does not decode: {e}"));
    assert_eq!(json, json2, "{what}: decode, encode, decode");
}

/// A manifest the fuzzer wrote and a payload for it.
///
/// Oracles: parsing never panics; a parsed manifest writes bytes that parse to the same
/// manifest, no longer than what was read; for every procedure in it, every decoder of the
/// codec round-trips the payload (decode, encode, decode gives the same JSON), for each
/// parameter's type too.
fn fuzzed_manifest(input: &[u8]) {
    let Some((&len, rest)) = input.split_first() else {
        return;
    };
    let (manifest, payload) = rest.split_at(usize::from(len).min(rest.len()));
    let Ok(m) = Manifest::parse(manifest) else {
        return;
    };
    let written = m.to_bytes();
    assert!(
        written.len() <= manifest.len(),
        "a manifest writes longer than it was read"
    );
    assert_eq!(
        Manifest::parse(&written).as_ref(),
        Ok(&m),
        "manifest round trip"
    );
    for p in &m.procedures {
        round_trip(
            &p.name,
            payload,
            |b| decode_args(p, b),
            |j| encode_args(p, j),
        );
        round_trip(
            &p.name,
            payload,
            |b| decode_output(p, b),
            |j| encode_output(p, j),
        );
        // Either decoder refuses a procedure without items of that kind.
        round_trip(
            &p.name,
            payload,
            |b| decode_item(p, b),
            |j| encode_item(p, j),
        );
        round_trip(
            &p.name,
            payload,
            |b| decode_in_item(p, b),
            |j| encode_in_item(p, j),
        );
        for f in &p.params {
            round_trip(
                &f.name,
                payload,
                |b| decode_value(&f.ty, b),
                |j| encode_value(&f.ty, j),
            );
        }
    }
}

/// Input: the first byte picks the service (or a fuzzed manifest), the rest is the payload.
/// See `both` and `fuzzed_manifest` for the oracles.
pub fn typed(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            let m = Manifest::parse(&demo::MANIFEST).expect("the demo manifest parses");
            call::<demo::Add>(&m, bytes);
            call::<demo::Echo>(&m, bytes);
            call::<demo::Fail>(&m, bytes);
            call::<demo::Huge>(&m, bytes);
            call::<demo::Sleep>(&m, bytes);
            stream::<demo::Count>(&m, bytes);
        }
        1 => {
            let m = Manifest::parse(&calc::MANIFEST).expect("the calc manifest parses");
            call::<calc::Add>(&m, bytes);
            call::<calc::Chars>(&m, bytes);
            call::<calc::Checksum>(&m, bytes);
            call::<calc::Hits>(&m, bytes);
            stream::<calc::Upto>(&m, bytes);
            stream::<calc::Total>(&m, bytes);
            stream::<calc::Scale>(&m, bytes);
            call::<calc::Reset>(&m, bytes);
        }
        _ => fuzzed_manifest(bytes),
    }
}
