//! The dynamic codec against the typed one: a host that knows a service only by its
//! manifest (built by `service!` from `#[derive(Schema)]` descriptions) encodes JSON into
//! exactly the bytes the typed client sends, for every shape of type, and decodes the typed
//! bytes into JSON that encodes back to them.

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use wirecall::Schema;
use wirecall_schema::{
    decode_args, decode_item, decode_output, encode_args, encode_in_item, encode_output, Manifest,
};

/// Every kind of enum variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Schema)]
pub enum Mode {
    Off,
    Level(u8),
    Span(i32, i32),
    Blink { hz: u16, duty: f32 },
}

/// A struct with nested options, sequences, strings, tuples, arrays and an enum.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Schema)]
pub struct Reading {
    pub seq: u32,
    pub at: Option<u64>,
    pub tags: heapless::Vec<heapless::String<8>, 4>,
    pub pos: (i16, i16),
    pub raw: [u8; 3],
    pub mode: Mode,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Schema)]
pub struct Id(pub u64);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Schema)]
pub struct Pair(pub i8, pub bool);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Schema)]
pub struct Unit;

type Map = heapless::LinearMap<u8, i64, 4>;

wirecall::service! {
    /// A service whose procedures take and return every shape of type.
    #[allow(clippy::too_many_arguments)]
    pub mod shapes {
        0 => Everything: fn everything(r: Reading, id: Id, pair: Pair, u: Unit, m: Map, c: char, f: f64, big: u128, neg: i128, v: Vec<u16>, o: Option<Option<i8>>) -> Reading;
        1 => Text: fn text(s: heapless::String<16>, b: heapless::Vec<u8, 32>) -> Option<Mode>;
        2 => Watch: fn watch(n: u32, stream Mode) -> stream Reading;
    }
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Off),
        any::<u8>().prop_map(Mode::Level),
        (any::<i32>(), any::<i32>()).prop_map(|(a, b)| Mode::Span(a, b)),
        (any::<u16>(), -1e30f32..1e30).prop_map(|(hz, duty)| Mode::Blink { hz, duty }),
    ]
}

fn short(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..=max).prop_map(move |cs| {
        let mut s = String::new();
        for c in cs {
            if s.len() + c.len_utf8() <= max {
                s.push(c);
            }
        }
        s
    })
}

fn reading() -> impl Strategy<Value = Reading> {
    (
        any::<u32>(),
        any::<Option<u64>>(),
        proptest::collection::vec(short(8), 0..=4),
        any::<(i16, i16)>(),
        any::<[u8; 3]>(),
        mode(),
    )
        .prop_map(|(seq, at, tags, pos, raw, mode)| Reading {
            seq,
            at,
            tags: tags
                .into_iter()
                .map(|t| heapless::String::try_from(t.as_str()).unwrap())
                .collect(),
            pos,
            raw,
            mode,
        })
}

/// Map keys in ascending order: JSON objects carry no order, and the codec writes integer
/// keys in numeric order (what a sorted map writes).
fn map() -> impl Strategy<Value = Map> {
    proptest::collection::btree_map(any::<u8>(), any::<i64>(), 0..=4)
        .prop_map(|m| m.into_iter().collect())
}

type EverythingArgs = <shapes::Everything as wirecall::Procedure>::Args<'static>;

fn everything_args() -> impl Strategy<Value = EverythingArgs> {
    (
        (
            reading(),
            any::<u64>().prop_map(Id),
            any::<(i8, bool)>().prop_map(|(a, b)| Pair(a, b)),
            map(),
        ),
        (
            any::<char>(),
            any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()),
            // serde_json's numbers hold 64 bits; wider values are the codec's own tests'.
            any::<u64>().prop_map(u128::from),
            any::<i64>().prop_map(i128::from),
            proptest::collection::vec(any::<u16>(), 0..8),
            any::<Option<Option<i8>>>().prop_filter("null is None", |o| *o != Some(None)),
        ),
    )
        .prop_map(|((r, id, pair, m), (c, f, big, neg, v, o))| {
            (r, id, pair, Unit, m, c, f, big, neg, v, o)
        })
}

fn manifest() -> Manifest {
    Manifest::parse(&shapes::MANIFEST).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn dynamic_arguments_are_the_typed_bytes(args in everything_args(), out in reading()) {
        let m = manifest();
        let p = m.procedure("everything").unwrap();
        let typed = postcard::to_allocvec(&args).unwrap();
        // By position, as serde writes a tuple.
        let json = serde_json::to_value(&args).unwrap();
        prop_assert_eq!(encode_args(p, &json).unwrap(), typed.clone());
        // The typed bytes decode (by name) into JSON that encodes back to them.
        let named = decode_args(p, &typed).unwrap();
        prop_assert_eq!(encode_args(p, &named).unwrap(), typed);
        // The result, both ways.
        let typed_out = postcard::to_allocvec(&out).unwrap();
        let shown = decode_output(p, &typed_out).unwrap();
        prop_assert_eq!(encode_output(p, &shown).unwrap(), typed_out.clone());
        prop_assert_eq!(encode_output(p, &serde_json::to_value(&out).unwrap()).unwrap(), typed_out);
    }

    #[test]
    fn dynamic_text_bytes_options_and_stream_items_are_the_typed_bytes(
        s in short(16),
        b in proptest::collection::vec(any::<u8>(), 0..=32),
        o in proptest::option::of(mode()),
        item in mode(),
        r in reading(),
    ) {
        let m = manifest();
        let text = m.procedure("text").unwrap();
        let args = (heapless::String::<16>::try_from(s.as_str()).unwrap(), heapless::Vec::<u8, 32>::from_slice(&b).unwrap());
        let typed = postcard::to_allocvec(&args).unwrap();
        prop_assert_eq!(encode_args(text, &serde_json::to_value(&args).unwrap()).unwrap(), typed.clone());
        prop_assert_eq!(encode_args(text, &decode_args(text, &typed).unwrap()).unwrap(), typed);
        let typed_out = postcard::to_allocvec(&o).unwrap();
        prop_assert_eq!(encode_output(text, &serde_json::to_value(&o).unwrap()).unwrap(), typed_out.clone());
        prop_assert_eq!(encode_output(text, &decode_output(text, &typed_out).unwrap()).unwrap(), typed_out);
        let watch = m.procedure("watch").unwrap();
        let typed_item = postcard::to_allocvec(&item).unwrap();
        prop_assert_eq!(encode_in_item(watch, &serde_json::to_value(&item).unwrap()).unwrap(), typed_item);
        let typed_r = postcard::to_allocvec(&r).unwrap();
        let shown = decode_item(watch, &typed_r).unwrap();
        prop_assert_eq!(shown["seq"].as_u64(), Some(u64::from(r.seq)));
    }
}

#[test]
fn the_demo_and_firmware_manifests_round_trip_through_the_host_reader() {
    use wirecall_example_service::device;
    use wirecall_tests::demo::demo;
    for (bytes, hash) in [
        (&demo::MANIFEST[..], demo::SCHEMA_HASH),
        (&device::MANIFEST[..], device::SCHEMA_HASH),
        (&shapes::MANIFEST[..], shapes::SCHEMA_HASH),
    ] {
        let m = Manifest::parse(bytes).unwrap();
        assert_eq!(m.to_bytes(), bytes);
        assert_eq!(wirecall::manifest_hash(bytes), hash);
    }
    let m = Manifest::parse(&device::MANIFEST).unwrap();
    let info = m.procedure("info").unwrap();
    assert_eq!(wirecall_schema::signature(info), "info() -> DeviceInfo");
    let sample = m.procedure("sample").unwrap();
    assert_eq!(
        wirecall_schema::signature(sample),
        "sample(hz: u32, count: u32) -> stream Reading"
    );
}

/// The manifests `service!` builds read back from their JSON form (what a server in another
/// language would declare), to the same model and so to the same bytes and hash.
#[test]
fn the_demo_and_firmware_manifests_read_back_from_their_json_form() {
    use wirecall_example_service::device;
    use wirecall_tests::calc::{calc, other};
    use wirecall_tests::demo::demo;
    for bytes in [
        &demo::MANIFEST[..],
        &device::MANIFEST[..],
        &shapes::MANIFEST[..],
        &calc::MANIFEST[..],
        &other::MANIFEST[..],
    ] {
        let m = Manifest::parse(bytes).unwrap();
        let form = serde_json::to_value(&m).unwrap();
        let read = Manifest::from_json(&form).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read, m);
        assert_eq!(read.to_bytes(), bytes);
    }
}

#[test]
fn a_typed_reading_from_the_firmware_prints_with_its_field_names() {
    use wirecall_example_service::{device, Reading};
    let m = Manifest::parse(&device::MANIFEST).unwrap();
    let sample = m.procedure("sample").unwrap();
    let r = Reading {
        seq: 3,
        at_ms: 40,
        milli_celsius: -1500,
    };
    let json = decode_item(sample, &postcard::to_allocvec(&r).unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"seq": 3, "at_ms": 40, "milli_celsius": -1500})
    );
}
