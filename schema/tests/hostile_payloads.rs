//! Payload bytes from a hostile device: decoding never panics, refuses impossible counts
//! before allocating for them, and what it accepts encodes again.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::values;
use proptest::prelude::*;
use wirecall_schema::{decode_value, encode_value, Type, MAX_EMPTY_VALUES};

/// Decoding finishes well within a second: nothing proportional to a hostile count ran.
fn quickly<T>(f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "took {:?}",
        start.elapsed()
    );
    out
}

#[test]
fn counts_beyond_the_bytes_left_are_refused_at_once() {
    let huge = [0xff, 0xff, 0xff, 0xff, 0x0f]; // u32::MAX
    let e = quickly(|| decode_value(&Type::seq(0, Type::U64), &huge)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "expected Vec<u64>, got 4294967295 items with 0 bytes left at byte 5"
    );
    let mut ten_byte = vec![0xff; 9];
    ten_byte.push(0x01); // u64::MAX as a length
    let e = quickly(|| decode_value(&Type::string(0), &ten_byte)).unwrap_err();
    assert!(
        e.to_string()
            .contains("18446744073709551615 bytes with 0 bytes left"),
        "{e}"
    );
    let map = Type::map(0, Type::U8, Type::seq(0, Type::U8));
    assert!(quickly(|| decode_value(&map, &[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2])).is_err());
    // An array's declared length counts too, although it is not on the wire.
    let array = Type::array(u32::MAX, Type::array(u32::MAX, Type::U16));
    assert!(quickly(|| decode_value(&array, &[1, 2, 3])).is_err());
}

#[test]
fn values_that_take_no_bytes_are_bounded() {
    // Four billion units in five bytes: postcard would accept them; the decoder stops.
    let units = Type::seq(0, Type::Unit);
    let e = quickly(|| decode_value(&units, &[0xff, 0xff, 0xff, 0xff, 0x0f])).unwrap_err();
    assert_eq!(
        e.message(),
        format!("more than {MAX_EMPTY_VALUES} values that take no bytes")
    );
    // And nested arrays of them, which need no bytes at all.
    let empty = Type::array(u32::MAX, Type::array(u32::MAX, Type::Tuple(vec![])));
    assert!(quickly(|| decode_value(&empty, &[])).is_err());
    let pairs = Type::map(
        0,
        Type::Unit,
        Type::UnitStruct {
            name: "Ping".into(),
        },
    );
    assert!(quickly(|| decode_value(&pairs, &[0xff, 0xff, 0xff, 0xff, 0x0f])).is_err());
    // Within the bound they decode as usual.
    let ok = decode_value(&units, &[0x80, 0x02]).unwrap();
    assert_eq!(ok.as_array().map(Vec::len), Some(256));
}

#[test]
fn types_deeper_than_a_manifest_allows_are_refused() {
    let mut deep = Type::U8;
    for _ in 0..40 {
        deep = Type::option(deep);
    }
    assert!(decode_value(&deep, &[1; 41])
        .unwrap_err()
        .message()
        .contains("deeper than 32"));
    assert!(encode_value(&deep, &serde_json::json!(1)).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random bytes as a random type: no panic, and whatever decodes encodes again to
    /// bytes that decode to the same JSON (the bytes themselves may differ only where
    /// postcard accepts more than one form, such as a varint with a redundant zero byte).
    /// Random bytes as a handle, alone or inside other types: no panic, and what decodes is
    /// a slot and a generation.
    #[test]
    fn random_bytes_as_handles(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
        for ty in [
            Type::handle("Channel"),
            Type::option(Type::handle("")),
            Type::seq(0, Type::handle("Log")),
        ] {
            if let Ok(json) = decode_value(&ty, &bytes) {
                prop_assert!(json.is_object() || json.is_array() || json.is_null(), "{}", json);
            }
        }
    }

    #[test]
    fn random_bytes_as_random_types(ty in common::arb_type(), bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
        if let Ok(json) = decode_value(&ty, &bytes) {
            let again = encode_value(&ty, &json);
            prop_assert!(again.is_ok(), "{} from {:?} does not encode: {}", json, bytes, again.unwrap_err());
            let again = again.unwrap();
            prop_assert_eq!(decode_value(&ty, &again).unwrap(), json);
        }
    }

    /// Valid payloads of random types, with one byte changed: no panic, and whatever decodes
    /// encodes again as above. Every strict prefix of a valid payload is refused.
    #[test]
    fn damaged_valid_payloads(
        (ty, json) in common::arb_inhabited_type().prop_flat_map(|ty| (Just(ty.clone()), values::arb_value(&ty))),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let valid = encode_value(&ty, &json).unwrap();
        for len in 0..valid.len() {
            prop_assert!(decode_value(&ty, &valid[..len]).is_err());
        }
        let mut damaged = valid.clone();
        if !damaged.is_empty() {
            damaged[at.index(valid.len())] = byte;
        }
        if let Ok(json) = decode_value(&ty, &damaged) {
            let again = encode_value(&ty, &json);
            prop_assert!(again.is_ok(), "{} does not encode: {}", json, again.unwrap_err());
            prop_assert_eq!(decode_value(&ty, &again.unwrap()).unwrap(), json);
        }
    }
}
