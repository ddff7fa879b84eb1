//! The JSON conventions the crate docs state, one by one, and the readings of arguments.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};
use wirecall_schema::{
    decode_args, decode_in_item, decode_item, decode_output, decode_value, encode_args,
    encode_in_item, encode_item, encode_output, encode_value, Type,
};

fn enc(ty: &Type, json: Value) -> Vec<u8> {
    encode_value(ty, &json).unwrap()
}

fn dec(ty: &Type, bytes: &[u8]) -> Value {
    decode_value(ty, bytes).unwrap()
}

fn bytes_type() -> Type {
    Type::seq(0, Type::U8)
}

#[test]
fn bytes_take_text_hex_base64_or_numbers() {
    let hello = b"Hello".to_vec();
    let mut expected = vec![5];
    expected.extend_from_slice(&hello);
    for form in [
        json!("Hello"),
        json!("0x48656c6c6f"),
        json!("0x48656C6C6F"),
        json!("base64:SGVsbG8="),
        json!([72, 101, 108, 108, 111]),
    ] {
        assert_eq!(enc(&bytes_type(), form.clone()), expected, "{form}");
    }
    assert_eq!(
        enc(&Type::array(5, Type::U8), json!("base64:SGVsbG8")),
        hello
    );
    assert_eq!(enc(&bytes_type(), json!("0x")), [0]);
    assert_eq!(enc(&bytes_type(), json!("")), [0]);
}

#[test]
fn bytes_print_as_text_when_readable_else_as_hex() {
    assert_eq!(dec(&bytes_type(), b"\x05Hello"), json!("Hello"));
    assert_eq!(dec(&bytes_type(), b"\x03\x00\x01\xff"), json!("0x0001ff"));
    assert_eq!(dec(&bytes_type(), b"\x02a\n"), json!("0x610a"));
    // Text that would read back as hex or base64 prints as hex.
    assert_eq!(dec(&bytes_type(), b"\x040x12"), json!("0x30783132"));
    assert_eq!(
        dec(&bytes_type(), b"\x07base64:"),
        json!("0x6261736536343a")
    );
    assert_eq!(dec(&Type::array(2, Type::U8), b"hi"), json!("hi"));
    // Only bytes: a Vec<u16> stays numbers.
    assert_eq!(
        dec(&Type::seq(0, Type::U16), &[2, 72, 105]),
        json!([72, 105])
    );
}

#[test]
fn integers_are_exact_and_wide_ones_print_as_strings() {
    assert_eq!(
        dec(&Type::U64, &enc(&Type::U64, json!(u64::MAX))),
        json!(u64::MAX)
    );
    assert_eq!(
        dec(&Type::I64, &enc(&Type::I64, json!("-9223372036854775808"))),
        json!(i64::MIN)
    );
    let max = u128::MAX.to_string();
    assert_eq!(dec(&Type::U128, &enc(&Type::U128, json!(max))), json!(max));
    assert_eq!(dec(&Type::U128, &enc(&Type::U128, json!(7))), json!(7));
    assert_eq!(
        dec(&Type::I128, &enc(&Type::I128, json!(i128::MIN.to_string()))),
        json!(i128::MIN.to_string())
    );
    // Within u64, an i128 is a number even above i64::MAX.
    assert_eq!(
        dec(&Type::I128, &enc(&Type::I128, json!(u64::MAX))),
        json!(u64::MAX)
    );
    // An integral float is an integer; small types take no strings.
    assert_eq!(enc(&Type::U8, json!(3.0)), [3]);
    assert!(encode_value(&Type::U32, &json!("3")).is_err());
}

#[test]
fn floats_and_their_special_values() {
    assert_eq!(dec(&Type::F32, &enc(&Type::F32, json!(0.1))), json!(0.1));
    assert_eq!(
        dec(&Type::F64, &enc(&Type::F64, json!("NaN"))),
        json!("NaN")
    );
    assert_eq!(
        dec(&Type::F64, &enc(&Type::F64, json!("inf"))),
        json!("inf")
    );
    assert_eq!(
        dec(&Type::F32, &enc(&Type::F32, json!("-inf"))),
        json!("-inf")
    );
    assert_eq!(enc(&Type::F64, json!(-0.0)), (-0.0f64).to_le_bytes());
    assert_eq!(
        enc(&Type::F32, json!(f64::from(f32::MAX))),
        f32::MAX.to_le_bytes()
    );
}

#[test]
fn chars_strings_options_units() {
    assert_eq!(
        enc(&Type::Char, json!("€")),
        postcard::to_allocvec(&'€').unwrap()
    );
    assert_eq!(dec(&Type::Char, &[3, 0xe2, 0x82, 0xac]), json!("€"));
    assert!(decode_value(&Type::Char, &[2, b'a', b'b']).is_err());
    assert_eq!(dec(&Type::string(4), &[2, b'o', b'k']), json!("ok"));
    let opt = Type::option(Type::U8);
    assert_eq!(enc(&opt, json!(null)), [0]);
    assert_eq!(enc(&opt, json!(9)), [1, 9]);
    assert_eq!(dec(&opt, &[1, 9]), json!(9));
    assert_eq!(enc(&Type::Unit, json!(null)), Vec::<u8>::new());
    assert_eq!(
        dec(
            &Type::UnitStruct {
                name: "Ping".into()
            },
            &[]
        ),
        json!(null)
    );
}

#[test]
fn structs_enums_and_newtypes() {
    let info = common::info_struct();
    let bytes = enc(&info, json!({"name": "box", "version": 300}));
    assert_eq!(bytes, [0xac, 0x02, 3, b'b', b'o', b'x']);
    assert_eq!(dec(&info, &bytes), json!({"version": 300, "name": "box"}));
    let mode = common::mode_enum();
    assert_eq!(enc(&mode, json!("On")), [1]);
    assert_eq!(enc(&mode, json!({"Off": null})), [0]);
    assert_eq!(enc(&mode, json!({"Blink": {"hz": 4}})), [2, 4]);
    assert_eq!(dec(&mode, &[2, 4]), json!({"Blink": {"hz": 4}}));
    assert_eq!(dec(&mode, &[1]), json!("On"));
    assert_eq!(
        enc(&Type::newtype("Meters", Type::U16), json!(300)),
        [0xac, 0x02]
    );
}

#[test]
fn maps_take_objects_or_pairs_and_print_so_that_bytes_survive() {
    let by_id = Type::map(0, Type::U32, Type::Bool);
    // Integer keys go on the wire in numeric order, as a BTreeMap writes them.
    let typed = postcard::to_allocvec(&BTreeMap::from([(2u32, true), (10, false)])).unwrap();
    assert_eq!(enc(&by_id, json!({"10": false, "2": true})), typed);
    assert_eq!(enc(&by_id, json!([[2, true], [10, false]])), typed);
    assert_eq!(dec(&by_id, &typed), json!({"2": true, "10": false}));
    // Out of order (or duplicate) keys print as pairs, which keep the order.
    let unordered = [2u8, 10, 0, 2, 1];
    assert_eq!(dec(&by_id, &unordered), json!([[10, false], [2, true]]));
    assert_eq!(enc(&by_id, dec(&by_id, &unordered)), unordered);
    // Keys that are no text, number or bool print as pairs.
    let by_pair = Type::map(0, Type::Tuple(vec![Type::U8, Type::U8]), Type::U8);
    assert_eq!(dec(&by_pair, &[1, 1, 2, 3]), json!([[[1, 2], 3]]));
    let by_char = Type::map(0, Type::Char, Type::U8);
    assert_eq!(
        dec(&by_char, &enc(&by_char, json!({"a": 1, "b": 2}))),
        json!({"a": 1, "b": 2})
    );
    let by_bool = Type::map(0, Type::Bool, Type::U8);
    assert_eq!(
        enc(&by_bool, json!({"true": 1, "false": 0})),
        [2, 0, 0, 1, 1]
    );
    let by_wide = Type::map(0, Type::I128, Type::Unit);
    let min = i128::MIN.to_string();
    assert_eq!(
        dec(
            &by_wide,
            &enc(&by_wide, json!({ min.clone(): null, "5": null }))
        ),
        json!({ min: null, "5": null })
    );
}

#[test]
fn one_parameter_reads_bare_first_then_as_arguments() {
    let manifest = common::demo_manifest();
    let echo = manifest.procedure("echo").unwrap();
    let hi = vec![2, b'h', b'i'];
    for form in [
        json!("hi"),
        json!([104, 105]),
        json!([[104, 105]]),
        json!({"data": "hi"}),
        json!(["0x6869"]),
    ] {
        assert_eq!(encode_args(echo, &form).unwrap(), hi, "{form}");
    }
    // Both readings work for `[[]]` with a Vec<Vec<u8>> parameter: the bare one wins.
    let mut nested = manifest.procedures[1].clone();
    nested.params[0].ty = Type::seq(0, Type::seq(0, Type::U8));
    assert_eq!(encode_args(&nested, &json!([[]])).unwrap(), [1, 0]);
    let count = manifest.procedure("count").unwrap();
    assert_eq!(encode_args(count, &json!(5)).unwrap(), [5]);
    assert_eq!(encode_args(count, &json!([5])).unwrap(), [5]);
    assert_eq!(encode_args(count, &json!({"n": 5})).unwrap(), [5]);
}

#[test]
fn no_parameters_take_empty_array_object_or_null() {
    let manifest = common::demo_manifest();
    let info = manifest.procedure("info").unwrap();
    for form in [json!([]), json!({}), json!(null)] {
        assert_eq!(encode_args(info, &form).unwrap(), Vec::<u8>::new());
    }
}

#[test]
fn outputs_items_and_arguments_decode_by_procedure() {
    let manifest = common::demo_manifest();
    let add = manifest.procedure("add").unwrap();
    assert_eq!(
        decode_args(add, &[0x0d, 0x04]).unwrap(),
        json!({"a": -7, "b": 2})
    );
    assert_eq!(
        decode_output(add, &encode_output(add, &json!(-5)).unwrap()).unwrap(),
        json!(-5)
    );
    let count = manifest.procedure("count").unwrap();
    assert_eq!(
        decode_item(count, &encode_item(count, &json!(9)).unwrap()).unwrap(),
        json!(9)
    );
    assert!(encode_in_item(count, &json!(9)).is_err());
    let sum = manifest.procedure("sum").unwrap();
    assert_eq!(
        decode_in_item(sum, &encode_in_item(sum, &json!(4)).unwrap()).unwrap(),
        json!(4)
    );
    assert!(decode_item(sum, &[4]).is_err());
    let chat = manifest.procedure("chat").unwrap();
    assert_eq!(decode_item(chat, &[2, b'o', b'k']).unwrap(), json!("ok"));
    assert_eq!(decode_in_item(chat, &[0]).unwrap(), json!(""));
}

#[test]
fn handles_decode_to_an_object_and_are_never_encoded() {
    let channel = Type::handle("Channel");
    assert_eq!(
        dec(&channel, &[0, 1]),
        json!({"handle": "Channel", "slot": 0, "generation": 1})
    );
    // Two varints, each up to a u32.
    assert_eq!(
        dec(&channel, &[0x80, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        json!({"handle": "Channel", "slot": 128, "generation": u32::MAX})
    );
    assert_eq!(
        dec(&Type::option(Type::handle("")), &[1, 3, 9]),
        json!({"handle": "", "slot": 3, "generation": 9})
    );
    let manifest = common::handles_manifest();
    let open = manifest.procedure("open").unwrap();
    assert_eq!(
        decode_output(open, &[2, 5]).unwrap(),
        json!({"handle": "Channel", "slot": 2, "generation": 5})
    );
    let e = decode_output(open, &[2]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "open: expected handle Channel, got the end of the payload at byte 1"
    );
    let e = decode_value(&channel, &[0, 0xff, 0xff, 0xff, 0xff, 0x1f]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "expected handle Channel, got a varint above 32 bits at byte 1"
    );
    assert!(decode_value(&channel, &[0, 1, 0]).is_err());

    // No JSON is a handle, not even what one decodes to.
    let decoded = dec(&channel, &[0, 1]);
    let e = encode_value(&channel, &decoded).unwrap_err();
    assert_eq!(
        e.to_string(),
        "handle Channel cannot be given in JSON (a handle only comes from the device)"
    );
    let take = common::procedure(
        9,
        "take",
        vec![wirecall_schema::Field::new("h", channel.clone())],
        Type::Unit,
        wirecall_schema::Mode::Call,
    );
    for args in [
        json!([{"slot": 0, "generation": 1}]),
        json!({"h": 1}),
        json!(1),
    ] {
        let e = encode_args(&take, &args).unwrap_err();
        assert!(
            e.to_string()
                .contains("handle Channel cannot be given in JSON"),
            "{args}: {e}"
        );
    }
    let e = encode_output(open, &decoded).unwrap_err();
    assert_eq!(
        e.to_string(),
        "open: handle Channel cannot be given in JSON (a handle only comes from the device)"
    );
}

proptest! {
    /// Any value of any type encodes, decodes, and encodes again to the same bytes.
    #[test]
    fn random_values_of_random_types_round_trip(
        (ty, json) in common::arb_inhabited_type().prop_flat_map(|ty| (Just(ty.clone()), common::values::arb_value(&ty))),
    ) {
        let bytes = encode_value(&ty, &json).map_err(|e| TestCaseError::fail(format!("{ty}: {e}")))?;
        let printed = decode_value(&ty, &bytes).unwrap();
        prop_assert_eq!(encode_value(&ty, &printed).unwrap(), bytes, "{} printed as {}", json, printed);
    }

    /// Decoded bytes print as text or hex, and either reads back to the same bytes.
    #[test]
    fn printed_bytes_read_back(bytes in proptest::collection::vec(any::<u8>(), 0..64), text in "\\PC{0,16}") {
        for bytes in [bytes, text.into_bytes()] {
            let ty = Type::seq(0, Type::U8);
            let payload = encode_value(&ty, &Value::from(bytes.clone())).unwrap();
            let printed = decode_value(&ty, &payload).unwrap();
            prop_assert!(printed.is_string());
            prop_assert_eq!(encode_value(&ty, &printed).unwrap(), payload);
            let array = Type::array(bytes.len() as u32, Type::U8);
            let printed = decode_value(&array, &bytes).unwrap();
            prop_assert_eq!(encode_value(&array, &printed).unwrap(), bytes);
        }
    }

    /// Any u8..u128 and i8..i128 read back as itself, through numbers or decimal strings.
    #[test]
    fn integers_round_trip(u in any::<u128>(), i in any::<i128>()) {
        let u_bytes = encode_value(&Type::U128, &Value::from(u.to_string())).unwrap();
        prop_assert_eq!(&u_bytes, &postcard::to_allocvec(&u).unwrap());
        let printed = decode_value(&Type::U128, &u_bytes).unwrap();
        prop_assert_eq!(encode_value(&Type::U128, &printed).unwrap(), u_bytes);
        let i_bytes = encode_value(&Type::I128, &Value::from(i.to_string())).unwrap();
        prop_assert_eq!(&i_bytes, &postcard::to_allocvec(&i).unwrap());
        let printed = decode_value(&Type::I128, &i_bytes).unwrap();
        prop_assert_eq!(encode_value(&Type::I128, &printed).unwrap(), i_bytes);
    }
}

/// JSON text to an `f64` is correctly rounded: the number a command line or file gives is
/// the number sent (serde_json's `float_roundtrip`; its default parser can be one unit in
/// the last place off, which the Python package's property test against this codec found).
#[test]
fn floats_from_json_text_are_the_nearest_double() {
    for text in [
        "7.1008888368266e+61",
        "0.1",
        "2.2250738585072014e-308",
        "1.7976931348623157e308",
    ] {
        let value: Value = serde_json::from_str(text).unwrap();
        let exact: f64 = text.parse().unwrap(); // Rust's own parser rounds correctly
        assert_eq!(
            enc(&Type::F64, value),
            exact.to_le_bytes().to_vec(),
            "{text}"
        );
    }
}

proptest! {
    /// Every finite double, printed as its shortest decimal and read back from JSON text,
    /// is the same double.
    #[test]
    fn every_printed_double_reads_back_from_json_text(bits in any::<u64>()) {
        let f = f64::from_bits(bits);
        prop_assume!(f.is_finite());
        let value: Value = serde_json::from_str(&format!("{f:e}")).unwrap();
        prop_assert_eq!(enc(&Type::F64, value), f.to_le_bytes().to_vec());
    }
}
