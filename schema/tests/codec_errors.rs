//! Every error message of the codec, for real inputs: what it says, and the path and
//! message apart.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use serde_json::{json, Value};
use wirecall_schema::{
    decode_output, decode_value, encode_args, encode_item, encode_value, CodecError, Manifest, Type,
};

fn manifest() -> Manifest {
    common::demo_manifest()
}

/// The error of calling `procedure` of the demo manifest with `args`.
fn args_error(procedure: &str, args: Value) -> CodecError {
    let manifest = manifest();
    let p = manifest.procedure(procedure).unwrap();
    encode_args(p, &args).expect_err("the arguments should be refused")
}

fn says(procedure: &str, args: Value) -> String {
    args_error(procedure, args).to_string()
}

fn value_error(ty: &Type, json: Value) -> String {
    encode_value(ty, &json)
        .expect_err("the value should be refused")
        .to_string()
}

#[test]
fn missing_and_unknown_fields() {
    assert_eq!(says("add", json!({"a": 1})), "add: missing field b");
    assert_eq!(
        says("add", json!({"a": 1, "b": 2, "c": 3})),
        "add: unknown field c (expected a, b)"
    );
    // In a struct, further in.
    let e = args_error("set", json!({"mode": {"Blink": {}}}));
    assert_eq!(e.to_string(), "set: missing field hz at mode.Blink");
    assert_eq!(
        (e.procedure(), e.path(), e.message(), e.got()),
        (Some("set"), "mode.Blink", "missing field hz", None)
    );
    let info = common::info_struct();
    assert_eq!(
        value_error(&info, json!({"version": 1, "name": "x", "extra": true})),
        "unknown field extra (expected version, name)"
    );
}

#[test]
fn wrong_types() {
    let e = args_error("add", json!([1, "x"]));
    assert_eq!(e.to_string(), "add: expected i32 at b, got \"x\"");
    assert_eq!(
        (e.path(), e.message(), e.got()),
        ("b", "expected i32", Some("\"x\""))
    );
    assert_eq!(
        says("add", json!({"a": 1.5, "b": 2})),
        "add: expected i32 (an integer) at a, got 1.5"
    );
    assert_eq!(value_error(&Type::Bool, json!(1)), "expected bool, got 1");
    assert_eq!(
        value_error(&Type::Char, json!("ab")),
        "expected char (a one-character string), got \"ab\""
    );
    assert_eq!(value_error(&Type::U8, json!("5")), "expected u8, got \"5\"");
    assert_eq!(value_error(&Type::Unit, json!(0)), "expected null, got 0");
    assert_eq!(
        value_error(&common::info_struct(), json!([1, "x"])),
        "expected Info { version: u32, name: String<16> }, got [1,\"x\"]"
    );
    assert_eq!(
        value_error(&Type::seq(0, Type::U16), json!({"a": 1})),
        "expected Vec<u16>, got {\"a\":1}"
    );
    let long = "y".repeat(100);
    let got = value_error(&Type::U8, json!(long));
    assert!(got.ends_with("yyy..."), "{got}");
    assert!(got.len() < 90, "{got}");
}

#[test]
fn out_of_range_integers() {
    assert_eq!(
        says("echo", json!([300])),
        "echo: 300 does not fit u8 at [0]"
    );
    assert_eq!(says("count", json!(-1)), "count: -1 does not fit u32");
    assert_eq!(
        says("count", json!({"n": -1})),
        "count: -1 does not fit u32 at n"
    );
    assert_eq!(
        says("add", json!([2_147_483_648u64, 0])),
        "add: 2147483648 does not fit i32 at a"
    );
    assert_eq!(
        says("add", json!([0, -2_147_483_649i64])),
        "add: -2147483649 does not fit i32 at b"
    );
    assert_eq!(
        value_error(
            &Type::U128,
            json!("340282366920938463463374607431768211456")
        ),
        "340282366920938463463374607431768211456 does not fit u128"
    );
    assert_eq!(
        value_error(&Type::I64, json!("9223372036854775808")),
        "9223372036854775808 does not fit i64"
    );
    assert_eq!(
        value_error(&Type::F32, json!(1e39)),
        "1e+39 does not fit f32"
    );
    // Past 2^53 a float is not taken as an integer: it may have been rounded.
    assert_eq!(
        value_error(&Type::U64, json!(1e17)),
        "expected u64 (an integer), got 1e+17"
    );
}

#[test]
fn unknown_variants() {
    assert_eq!(
        says("set", json!({"mode": "Dim"})),
        "set: expected one of Off, On, Blink { hz: u8 } at mode, got \"Dim\""
    );
    assert_eq!(
        says("set", json!("Dim")),
        "set: expected one of Off, On, Blink { hz: u8 }, got \"Dim\""
    );
    assert_eq!(
        says("set", json!({"Dim": 1})),
        "set: expected one of Off, On, Blink { hz: u8 }, got {\"Dim\":1}"
    );
    let mode = common::mode_enum();
    assert_eq!(
        value_error(&mode, json!("Blink")),
        "expected {\"Blink\": { hz: u8 }}, got \"Blink\""
    );
    assert_eq!(
        value_error(&mode, json!({"On": 1})),
        "expected null at On, got 1"
    );
    assert_eq!(
        value_error(&mode, json!({"Blink": {"hz": 300}})),
        "300 does not fit u8 at Blink.hz"
    );
}

#[test]
fn too_many_items_and_too_long_strings() {
    let items: Vec<u8> = vec![1; 201];
    assert_eq!(
        says("echo", json!(items)),
        "echo: at most 200 items, got 201"
    );
    assert_eq!(
        says("echo", json!("x".repeat(201))),
        "echo: at most 200 items, got 201"
    );
    assert!(encode_args(manifest().procedure("echo").unwrap(), &json!(vec![1; 200])).is_ok());
    assert_eq!(
        says("chat", json!("r".repeat(40))),
        "chat: at most 32 bytes, got 40"
    );
    // The bound is in bytes, not characters.
    assert_eq!(
        says("chat", json!("é".repeat(17))),
        "chat: at most 32 bytes, got 34"
    );
    let map = Type::map(2, Type::U8, Type::U8);
    assert_eq!(
        value_error(&map, json!({"1": 1, "2": 2, "3": 3})),
        "at most 2 entries, got 3"
    );
}

#[test]
fn wrong_lengths() {
    let pair = Type::Tuple(vec![Type::U8, Type::U8]);
    assert_eq!(
        value_error(&pair, json!([1, 2, 3])),
        "expected exactly 2 items, got 3"
    );
    assert_eq!(
        value_error(&Type::array(4, Type::U8), json!("0x010203")),
        "expected exactly 4 bytes, got 3"
    );
    let all = json!([null, true, 1, 2, 3, 4, 5, -1, -2, -3, -4, -5, 1.5, 2.5, "c", "s"]);
    let mut config = json!({"limits": {}, "point": [1, 2], "ping": null, "meters": 5, "shape": "Empty", "all": all});
    assert!(encode_args(manifest().procedure("configure").unwrap(), &json!([config])).is_ok());
    config["point"] = json!([1, 2, 3]);
    let e = args_error("configure", json!({"config": config}));
    assert_eq!(
        e.to_string(),
        "configure: expected exactly 2 items at config.point, got 3"
    );
    assert_eq!(
        (e.path(), e.message(), e.got()),
        ("config.point", "expected exactly 2 items", Some("3"))
    );
    let map = Type::map(0, Type::U8, Type::U8);
    assert_eq!(
        value_error(&map, json!([[1, 2], [3]])),
        "expected a [key, value] pair at [1], got [3]"
    );
}

#[test]
fn wrong_argument_counts() {
    assert_eq!(
        says("add", json!([1, 2, 3])),
        "add: expected 2 arguments (a: i32, b: i32), got 3"
    );
    assert_eq!(
        says("add", json!(5)),
        "add: expected 2 arguments (a: i32, b: i32) as an array or an object, got 5"
    );
    assert_eq!(
        says("info", json!(5)),
        "info: expected no arguments ([], {} or null), got 5"
    );
    assert_eq!(
        says("info", json!([1])),
        "info: expected no arguments ([], {} or null), got [1]"
    );
    // One parameter: an array that cannot be a u32 is the arguments.
    assert_eq!(
        says("count", json!([1, 2])),
        "count: expected 1 argument (n: u32), got 2"
    );
    // An array for a Vec parameter is read as the Vec.
    assert_eq!(
        says("echo", json!([[1], [2]])),
        "echo: expected u8 at [0], got [1]"
    );
}

#[test]
fn bad_hex_and_base64() {
    let e = args_error("echo", json!("0x123"));
    assert_eq!(
        e.to_string(),
        "echo: bad hex: an odd number of digits (3), got \"0x123\""
    );
    assert_eq!(e.message(), "bad hex: an odd number of digits (3)");
    assert_eq!(
        says("echo", json!("0x12zz")),
        "echo: bad hex: 'z' at 4 is not a hex digit, got \"0x12zz\""
    );
    assert_eq!(
        says("echo", json!({"data": "base64:SGV@bG8="})),
        "echo: bad base64: '@' at 10 is not a base64 digit at data, got \"base64:SGV@bG8=\""
    );
    assert_eq!(
        says("echo", json!("base64:SGVsb")),
        "echo: bad base64: 5 digits is not a whole number of bytes, got \"base64:SGVsb\""
    );
}

#[test]
fn decoding_errors_say_what_the_bytes_held_and_where() {
    let e = decode_value(&Type::U32, &[0x80]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "expected u32, got the end of the payload at byte 1"
    );
    assert_eq!(
        decode_value(&Type::Bool, &[2]).unwrap_err().to_string(),
        "expected bool, got byte 0x02 at byte 0"
    );
    assert_eq!(
        decode_value(&Type::U8, &[1, 2]).unwrap_err().to_string(),
        "1 byte left over after the value, from byte 1"
    );
    assert_eq!(
        decode_value(&common::mode_enum(), &[7])
            .unwrap_err()
            .to_string(),
        "expected one of Off, On, Blink { hz: u8 }, got variant index 7 at byte 0"
    );
    assert_eq!(
        decode_value(&Type::U16, &[0xff, 0xff, 0x04])
            .unwrap_err()
            .to_string(),
        "expected u16, got a varint above 16 bits at byte 0"
    );
    assert_eq!(
        decode_value(&Type::seq(0, Type::string(0)), &[2, 1, b'a', 1, 0xff])
            .unwrap_err()
            .to_string(),
        "expected String at [1], got bytes that are not UTF-8 at byte 4"
    );
    assert_eq!(
        decode_value(&Type::option(Type::U8), &[3])
            .unwrap_err()
            .to_string(),
        "expected Option<u8>, got tag 0x03 at byte 0"
    );
    assert_eq!(
        decode_value(&Type::seq(2, Type::U8), &[3, 1, 2, 3])
            .unwrap_err()
            .to_string(),
        "at most 2 items, got 3"
    );
    let manifest = manifest();
    let add = manifest.procedure("add").unwrap();
    assert_eq!(
        decode_output(add, &[]).unwrap_err().to_string(),
        "add: expected i32, got the end of the payload at byte 0"
    );
}

#[test]
fn items_only_where_they_flow() {
    let manifest = manifest();
    let e = encode_item(manifest.procedure("add").unwrap(), &json!(1)).unwrap_err();
    assert_eq!(e.to_string(), "add: the server sends no items on a call");
    let e = encode_item(manifest.procedure("count").unwrap(), &json!(-1)).unwrap_err();
    assert_eq!(e.to_string(), "count: -1 does not fit u32");
}
