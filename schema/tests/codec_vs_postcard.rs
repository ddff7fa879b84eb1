//! The dynamic codec writes exactly what postcard writes for the Rust type a manifest
//! describes, and decoding then encoding gives the same bytes back.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Debug;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde::Serialize;
use serde_json::{json, Value};
use wirecall_schema::{decode_value, encode_args, encode_value, Field, Type, Variant, VariantKind};

#[derive(Serialize, Debug, Clone)]
struct Meters(u32);

#[derive(Serialize, Debug, Clone)]
struct Point(i32, i32);

#[derive(Serialize, Debug, Clone)]
struct Ping;

#[derive(Serialize, Debug, Clone)]
enum Light {
    Off,
    Level(u8),
    Pair(i16, bool),
    Blink { hz: u8, duty: Option<f32> },
}

#[derive(Serialize, Debug, Clone)]
struct Inner {
    at: Option<Point>,
    trail: Vec<Meters>,
}

/// A struct with a field of every shape.
#[derive(Serialize, Debug, Clone)]
struct Everything {
    flag: bool,
    ints: (u8, u16, u32, u64, u128),
    sints: (i8, i16, i32, i64, i128),
    a_f32: f32,
    a_f64: f64,
    letter: char,
    name: String,
    label: heapless::String<16>,
    bytes: Vec<u8>,
    small: heapless::Vec<u16, 8>,
    blob: heapless::Vec<u8, 8>,
    maybe: Option<u32>,
    nested: Option<Vec<Option<i8>>>,
    scores: BTreeMap<String, i32>,
    by_id: BTreeMap<u32, String>,
    by_sign: BTreeMap<i16, bool>,
    light: Light,
    lights: Vec<Light>,
    triple: (u8, String, i64),
    grid: [[u8; 2]; 3],
    tag: [u8; 4],
    meters: Meters,
    point: Point,
    ping: Ping,
    inner: Inner,
    unit: (),
}

fn point_type() -> Type {
    Type::TupleStruct {
        name: "Point".into(),
        fields: vec![Type::I32, Type::I32],
    }
}

fn light_type() -> Type {
    Type::enumeration(
        "Light",
        vec![
            Variant::new("Off", VariantKind::Unit),
            Variant::new("Level", VariantKind::Newtype(Type::U8)),
            Variant::new("Pair", VariantKind::Tuple(vec![Type::I16, Type::Bool])),
            Variant::new(
                "Blink",
                VariantKind::Struct(vec![
                    Field::new("hz", Type::U8),
                    Field::new("duty", Type::option(Type::F32)),
                ]),
            ),
        ],
    )
}

/// The manifest's description of [`Everything`], written by hand.
fn everything_type() -> Type {
    let f = Field::new;
    Type::structure(
        "Everything",
        vec![
            f("flag", Type::Bool),
            f(
                "ints",
                Type::Tuple(vec![Type::U8, Type::U16, Type::U32, Type::U64, Type::U128]),
            ),
            f(
                "sints",
                Type::Tuple(vec![Type::I8, Type::I16, Type::I32, Type::I64, Type::I128]),
            ),
            f("a_f32", Type::F32),
            f("a_f64", Type::F64),
            f("letter", Type::Char),
            f("name", Type::string(0)),
            f("label", Type::string(16)),
            f("bytes", Type::seq(0, Type::U8)),
            f("small", Type::seq(8, Type::U16)),
            f("blob", Type::seq(8, Type::U8)),
            f("maybe", Type::option(Type::U32)),
            f("nested", Type::option(Type::seq(0, Type::option(Type::I8)))),
            f("scores", Type::map(0, Type::string(0), Type::I32)),
            f("by_id", Type::map(0, Type::U32, Type::string(0))),
            f("by_sign", Type::map(0, Type::I16, Type::Bool)),
            f("light", light_type()),
            f("lights", Type::seq(0, light_type())),
            f(
                "triple",
                Type::Tuple(vec![Type::U8, Type::string(0), Type::I64]),
            ),
            f("grid", Type::array(3, Type::array(2, Type::U8))),
            f("tag", Type::array(4, Type::U8)),
            f("meters", Type::newtype("Meters", Type::U32)),
            f("point", point_type()),
            f(
                "ping",
                Type::UnitStruct {
                    name: "Ping".into(),
                },
            ),
            f(
                "inner",
                Type::structure(
                    "Inner",
                    vec![
                        f("at", Type::option(point_type())),
                        f("trail", Type::seq(0, Type::newtype("Meters", Type::U32))),
                    ],
                ),
            ),
            f("unit", Type::Unit),
        ],
    )
}

/// Any `T`, with its extremes and zero much more often than chance would give them.
fn edgy<T: Arbitrary + Clone + Debug + 'static>(edges: [T; 3]) -> impl Strategy<Value = T> {
    prop_oneof![proptest::sample::select(edges.to_vec()), any::<T>()]
}

fn finite_f32() -> impl Strategy<Value = f32> {
    use proptest::num::f32::*;
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
}

fn finite_f64() -> impl Strategy<Value = f64> {
    use proptest::num::f64::*;
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
}

fn arb_light() -> impl Strategy<Value = Light> {
    prop_oneof![
        Just(Light::Off),
        any::<u8>().prop_map(Light::Level),
        (any::<i16>(), any::<bool>()).prop_map(|(a, b)| Light::Pair(a, b)),
        (any::<u8>(), proptest::option::of(finite_f32()))
            .prop_map(|(hz, duty)| Light::Blink { hz, duty }),
    ]
}

fn arb_ints() -> impl Strategy<Value = (u8, u16, u32, u64, u128)> {
    (
        edgy([0, 1, u8::MAX]),
        edgy([0, 127, u16::MAX]),
        edgy([0, 128, u32::MAX]),
        edgy([0, 1 << 53, u64::MAX]),
        // serde_json's `to_value` refuses u128 beyond u64; wider values are tested below.
        edgy([0, 1, u64::MAX]).prop_map(u128::from),
    )
}

fn arb_sints() -> impl Strategy<Value = (i8, i16, i32, i64, i128)> {
    (
        edgy([i8::MIN, -1, i8::MAX]),
        edgy([i16::MIN, -64, i16::MAX]),
        edgy([i32::MIN, -1, i32::MAX]),
        edgy([i64::MIN, -1, i64::MAX]),
        edgy([i64::MIN, -1, i64::MAX]).prop_map(i128::from),
    )
}

prop_compose! {
    fn arb_text()(
        name in "\\PC{0,12}",
        label in "[a-zé€]{0,5}",
        bytes in proptest::collection::vec(any::<u8>(), 0..20),
        small in proptest::collection::vec(any::<u16>(), 0..=8),
        blob in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..=8),
            "[ -~]{0,8}".prop_map(String::into_bytes),
        ],
        letter in any::<char>(),
    ) -> (String, heapless::String<16>, Vec<u8>, heapless::Vec<u16, 8>, heapless::Vec<u8, 8>, char) {
        (
            name,
            heapless::String::try_from(label.as_str()).unwrap(),
            bytes,
            small.into_iter().collect(),
            blob.into_iter().collect(),
            letter,
        )
    }
}

prop_compose! {
    fn arb_collections()(
        maybe in proptest::option::of(any::<u32>()),
        nested in proptest::option::of(proptest::collection::vec(proptest::option::of(any::<i8>()), 0..4)),
        scores in proptest::collection::btree_map("[a-zA-Z0-9 ]{0,6}", any::<i32>(), 0..5),
        by_id in proptest::collection::btree_map(any::<u32>(), "[a-z]{0,4}", 0..5),
        by_sign in proptest::collection::btree_map(any::<i16>(), any::<bool>(), 0..5),
        lights in proptest::collection::vec(arb_light(), 0..4),
    ) -> (Option<u32>, Option<Vec<Option<i8>>>, BTreeMap<String, i32>, BTreeMap<u32, String>, BTreeMap<i16, bool>, Vec<Light>) {
        (maybe, nested, scores, by_id, by_sign, lights)
    }
}

prop_compose! {
    fn arb_everything()(
        flag in any::<bool>(),
        ints in arb_ints(),
        sints in arb_sints(),
        floats in (finite_f32(), finite_f64()),
        text in arb_text(),
        collections in arb_collections(),
        light in arb_light(),
        triple in (any::<u8>(), "\\PC{0,5}", any::<i64>()),
        arrays in (any::<[[u8; 2]; 3]>(), any::<[u8; 4]>()),
        structs in (any::<u32>(), any::<(i32, i32)>(), proptest::option::of(any::<(i32, i32)>()), proptest::collection::vec(any::<u32>(), 0..3)),
    ) -> Everything {
        let (name, label, bytes, small, blob, letter) = text;
        let (maybe, nested, scores, by_id, by_sign, lights) = collections;
        Everything {
            flag, ints, sints, a_f32: floats.0, a_f64: floats.1, letter, name, label, bytes, small,
            blob, maybe, nested, scores, by_id, by_sign, light, lights, triple,
            grid: arrays.0, tag: arrays.1,
            meters: Meters(structs.0),
            point: Point(structs.1 .0, structs.1 .1),
            ping: Ping,
            inner: Inner {
                at: structs.2.map(|(x, y)| Point(x, y)),
                trail: structs.3.into_iter().map(Meters).collect(),
            },
            unit: (),
        }
    }
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// `value`'s postcard bytes equal `json` encoded as `ty`, and decoding those bytes then
/// encoding the result gives them again.
fn same_as_postcard<T: Serialize>(value: &T, ty: &Type, json: &Value) -> Result<(), TestCaseError> {
    let typed = postcard::to_allocvec(value).unwrap();
    let dynamic = encode_value(ty, json).map_err(fail)?;
    prop_assert_eq!(&dynamic, &typed, "encoding {}", json);
    let decoded = decode_value(ty, &typed).map_err(fail)?;
    let again = encode_value(ty, &decoded).map_err(fail)?;
    prop_assert_eq!(&again, &typed, "decoded as {}", decoded);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_shape_matches_postcard(value in arb_everything()) {
        let json = serde_json::to_value(&value).unwrap();
        same_as_postcard(&value, &everything_type(), &json)?;
    }

    /// The wide integers and floats serde_json's `to_value` cannot hold, written as the
    /// codec's conventions say (decimal strings, "NaN", "inf", "-inf").
    #[test]
    fn wide_integers_and_every_float_match_postcard(
        u in edgy([u128::MAX, u128::from(u64::MAX) + 1, 0]),
        i in edgy([i128::MIN, i128::MAX, i128::from(i64::MIN) - 1]),
        f in any::<f32>(),
        d in any::<f64>(),
    ) {
        // The codec writes the one NaN `"NaN"` stands for.
        let f = if f.is_nan() { f32::NAN } else { f };
        let d = if d.is_nan() { f64::NAN } else { d };
        let float = |x: f64| match x {
            x if x.is_nan() => json!("NaN"),
            x if x == f64::INFINITY => json!("inf"),
            x if x == f64::NEG_INFINITY => json!("-inf"),
            x => json!(x),
        };
        let json = json!([u.to_string(), i.to_string(), float(f64::from(f)), float(d)]);
        let ty = Type::Tuple(vec![Type::U128, Type::I128, Type::F32, Type::F64]);
        same_as_postcard(&(u, i, f, d), &ty, &json)?;
    }

    #[test]
    fn enums_of_every_variant_kind_match_postcard(lights in proptest::collection::vec(arb_light(), 0..6)) {
        let json = serde_json::to_value(&lights).unwrap();
        same_as_postcard(&lights, &Type::seq(0, light_type()), &json)?;
    }
}

#[test]
fn extreme_integers_match_postcard() {
    fn check<T: Serialize + Copy + ToString>(values: &[T], ty: Type) {
        for v in values {
            // As a number where serde_json has one, and as a decimal string for the wide types.
            let json = serde_json::to_value(v).unwrap_or_else(|_| json!(v.to_string()));
            same_as_postcard(v, &ty, &json).unwrap();
        }
    }
    check(&[0, 1, u8::MAX], Type::U8);
    check(&[0, 127, 128, u16::MAX], Type::U16);
    check(&[0, 16_383, 16_384, u32::MAX], Type::U32);
    check(&[0, u64::MAX], Type::U64);
    check(&[0, u128::from(u64::MAX), u128::MAX], Type::U128);
    check(&[i8::MIN, -1, 0, i8::MAX], Type::I8);
    check(&[i16::MIN, -65, -64, 63, 64, i16::MAX], Type::I16);
    check(&[i32::MIN, -1, 0, i32::MAX], Type::I32);
    check(&[i64::MIN, -1, 0, i64::MAX], Type::I64);
    check(&[i128::MIN, i128::from(i64::MIN), 0, i128::MAX], Type::I128);
    // And as decimal strings where those are taken.
    assert_eq!(
        encode_value(&Type::U64, &json!("18446744073709551615")).unwrap(),
        postcard::to_allocvec(&u64::MAX).unwrap()
    );
    assert_eq!(
        encode_value(&Type::I64, &json!("-9223372036854775808")).unwrap(),
        postcard::to_allocvec(&i64::MIN).unwrap()
    );
}

#[test]
fn arguments_are_the_parameters_as_a_tuple() {
    let manifest = common::demo_manifest();
    let add = manifest.procedure("add").unwrap();
    let expected = postcard::to_allocvec(&(-7i32, 300i32)).unwrap();
    assert_eq!(encode_args(add, &json!([-7, 300])).unwrap(), expected);
    assert_eq!(
        encode_args(add, &json!({"b": 300, "a": -7})).unwrap(),
        expected
    );
    let info = manifest.procedure("info").unwrap();
    assert_eq!(
        encode_args(info, &json!(null)).unwrap(),
        postcard::to_allocvec(&()).unwrap()
    );
}
