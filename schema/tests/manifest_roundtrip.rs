//! Manifests written then parsed give the model back, and hand-written bytes parse as the
//! format says.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use proptest::prelude::*;
use wirecall_schema::{
    Field, Interface, Manifest, Mode, Type, Variant, VariantKind, FORMAT, FORMAT_INTERFACES,
};

#[test]
fn every_tag_and_mode_round_trips() {
    let format_1 = common::demo_manifest();
    let bytes = format_1.to_bytes();
    assert_eq!(bytes[0], FORMAT);
    assert_eq!(Manifest::parse(&bytes).unwrap(), format_1);
    let manifest = common::handles_manifest();
    let bytes = manifest.to_bytes();
    assert_eq!(bytes[0], FORMAT_INTERFACES);
    let parsed = Manifest::parse(&bytes).unwrap();
    assert_eq!(parsed, manifest);
    assert_eq!(parsed.to_bytes(), bytes);

    // The demo really covers every tag and mode, so this test means what it says.
    let mut tags = std::collections::BTreeSet::new();
    let mut kinds = std::collections::BTreeSet::new();
    fn walk(
        t: &Type,
        tags: &mut std::collections::BTreeSet<u8>,
        kinds: &mut std::collections::BTreeSet<u8>,
    ) {
        tags.insert(t.tag());
        let mut each = |t: &Type| walk(t, tags, kinds);
        match t {
            Type::Option(i) | Type::Seq { item: i, .. } | Type::Array { item: i, .. } => each(i),
            Type::NewtypeStruct { inner, .. } => each(inner),
            Type::Map { key, value, .. } => {
                each(key);
                each(value);
            }
            Type::Tuple(ts) | Type::TupleStruct { fields: ts, .. } => ts.iter().for_each(each),
            Type::Struct { fields, .. } => fields.iter().for_each(|f| each(&f.ty)),
            Type::Enum { variants, .. } => {
                for v in variants {
                    match &v.kind {
                        VariantKind::Unit => kinds.insert(0),
                        VariantKind::Newtype(t) => {
                            walk(t, tags, kinds);
                            kinds.insert(1)
                        }
                        VariantKind::Tuple(ts) => {
                            ts.iter().for_each(|t| walk(t, tags, kinds));
                            kinds.insert(2)
                        }
                        VariantKind::Struct(fs) => {
                            fs.iter().for_each(|f| walk(&f.ty, tags, kinds));
                            kinds.insert(3)
                        }
                    };
                }
            }
            _ => {}
        }
    }
    let mut modes = std::collections::BTreeSet::new();
    let methods = manifest.interfaces.iter().flat_map(|i| &i.methods);
    for p in manifest.procedures.iter().chain(methods) {
        modes.insert(p.mode.byte());
        let all = p
            .params
            .iter()
            .map(|f| &f.ty)
            .chain([&p.output])
            .chain(p.item())
            .chain(p.in_item());
        all.for_each(|t| walk(t, &mut tags, &mut kinds));
    }
    assert_eq!(tags, (0..=26).collect());
    assert_eq!(kinds, (0..=3).collect());
    assert_eq!(modes, (0..=3).collect());
}

/// The bytes of `add(a: i32, b: i32) -> i32` (id 1) and `count(n: u32) -> stream u32` (id
/// 200) in service `demo`, written out by hand from the format, not by the writer.
const HAND_WRITTEN: &[u8] = &[
    1, // format
    4, b'd', b'e', b'm', b'o', // service name
    2,    // procedures
    1, 3, b'a', b'd', b'd', 0, // id 1, "add", a plain call
    2, 1, b'a', 9, 1, b'b', 9, // (a: i32, b: i32)
    9, // -> i32
    0xc8, 0x01, 5, b'c', b'o', b'u', b'n', b't', 2, // id 200, "count", a server stream
    1, 1, b'n', 4, // (n: u32)
    0, 4, // output (), item u32
];

#[test]
fn hand_written_bytes_parse_and_write_back() {
    let parsed = Manifest::parse(HAND_WRITTEN).unwrap();
    let expected = Manifest {
        service: "demo".into(),
        procedures: vec![
            common::procedure(
                1,
                "add",
                vec![Field::new("a", Type::I32), Field::new("b", Type::I32)],
                Type::I32,
                Mode::Call,
            ),
            common::procedure(
                200,
                "count",
                vec![Field::new("n", Type::U32)],
                Type::Unit,
                Mode::ServerStream { item: Type::U32 },
            ),
        ],
        interfaces: vec![],
    };
    assert_eq!(parsed, expected);
    assert_eq!(expected.to_bytes(), HAND_WRITTEN);
}

/// `open(name: String<16>) -> handle Channel` (id 6) in service `demo`, then interface
/// `Channel` with `read() -> i32` (0) and `configure(scale: i32) -> i32` (1), by hand.
const HAND_WRITTEN_HANDLES: &[u8] = &[
    2, // format 2: interfaces follow the procedures
    4, b'd', b'e', b'm', b'o', // service name
    1,    // procedures
    6, 4, b'o', b'p', b'e', b'n', 0, // id 6, "open", a plain call
    1, 4, b'n', b'a', b'm', b'e', 15, 16, // (name: String<16>)
    26, 7, b'C', b'h', b'a', b'n', b'n', b'e', b'l', // -> handle Channel
    1,    // interfaces
    7, b'C', b'h', b'a', b'n', b'n', b'e', b'l', // "Channel"
    2,    // methods
    0, 4, b'r', b'e', b'a', b'd', 0, 0, 9, // 0 read() -> i32
    1, 9, b'c', b'o', b'n', b'f', b'i', b'g', b'u', b'r', b'e', 0, // 1 configure, a call
    1, 5, b's', b'c', b'a', b'l', b'e', 9, 9, // (scale: i32) -> i32
];

#[test]
fn hand_written_format_2_bytes_parse_and_write_back() {
    let parsed = Manifest::parse(HAND_WRITTEN_HANDLES).unwrap();
    let expected = Manifest {
        service: "demo".into(),
        procedures: vec![common::procedure(
            6,
            "open",
            vec![Field::new("name", Type::string(16))],
            Type::handle("Channel"),
            Mode::Call,
        )],
        interfaces: vec![Interface {
            name: "Channel".into(),
            methods: vec![
                common::procedure(0, "read", vec![], Type::I32, Mode::Call),
                common::procedure(
                    1,
                    "configure",
                    vec![Field::new("scale", Type::I32)],
                    Type::I32,
                    Mode::Call,
                ),
            ],
        }],
    };
    assert_eq!(parsed, expected);
    assert_eq!(expected.to_bytes(), HAND_WRITTEN_HANDLES);
    assert_eq!(parsed.format(), FORMAT_INTERFACES);
    let open = parsed.procedure("open").unwrap();
    let channel = parsed.returned_interface(open).unwrap();
    assert_eq!(channel.name, "Channel");
    assert_eq!(channel.method("configure").unwrap().id, 1);
    assert_eq!(channel.method_by_id(0).unwrap().name, "read");
    assert!(channel.method("open").is_none());
    assert!(parsed.interface("Log").is_none());
    assert!(parsed
        .returned_interface(&channel.methods[0].clone())
        .is_none());
}

#[test]
fn a_manifest_without_interfaces_keeps_format_1() {
    let mut manifest = common::handles_manifest();
    manifest.interfaces.clear();
    manifest
        .procedures
        .truncate(common::demo_manifest().procedures.len());
    assert_eq!(manifest.format(), FORMAT);
    assert_eq!(manifest.to_bytes(), common::demo_manifest().to_bytes());
    // A handle of any interface needs no interface: format 1 can hold it.
    manifest.procedures[0].output = Type::handle("");
    let bytes = manifest.to_bytes();
    assert_eq!(bytes[0], FORMAT);
    assert_eq!(Manifest::parse(&bytes), Ok(manifest));
    assert_eq!(
        Manifest::parse(HAND_WRITTEN).unwrap().to_bytes(),
        HAND_WRITTEN
    );
}

#[test]
fn bodies_are_written_in_the_documented_order() {
    // map: max · key · value; enum variant: name · kind · body; bidi: item then in_item.
    let ty = Type::map(
        3,
        Type::U8,
        Type::enumeration(
            "E",
            vec![Variant::new("A", VariantKind::Tuple(vec![Type::Bool]))],
        ),
    );
    let manifest = Manifest {
        service: String::new(),
        procedures: vec![common::procedure(
            0,
            "",
            vec![],
            Type::Unit,
            Mode::Bidi {
                item: ty,
                in_item: Type::Char,
            },
        )],
        interfaces: vec![],
    };
    let expected: &[u8] = &[
        1, 0, 1, // format, service "", one procedure
        0, 0, 3, 0, // id 0, name "", mode 3, no params
        0, // output ()
        18, 3, 2, 25, 1, b'E', 1, 1, b'A', 2, 1, 1,  // item: Map<u8, E, 3>
        14, // in_item: char
    ];
    assert_eq!(manifest.to_bytes(), expected);
    assert_eq!(Manifest::parse(expected).unwrap(), manifest);
}

proptest! {
    #[test]
    fn random_manifests_round_trip(manifest in common::arb_manifest()) {
        let bytes = manifest.to_bytes();
        prop_assert_eq!(bytes[0], FORMAT);
        let parsed = Manifest::parse(&bytes);
        prop_assert_eq!(parsed.as_ref(), Ok(&manifest));
        prop_assert_eq!(parsed.unwrap().to_bytes(), bytes);
    }

    #[test]
    fn random_manifests_with_handles_round_trip(manifest in common::arb_handles_manifest()) {
        let bytes = manifest.to_bytes();
        prop_assert_eq!(bytes[0], FORMAT_INTERFACES);
        let parsed = Manifest::parse(&bytes);
        prop_assert_eq!(parsed.as_ref(), Ok(&manifest));
        prop_assert_eq!(parsed.unwrap().to_bytes(), bytes);
    }
}
