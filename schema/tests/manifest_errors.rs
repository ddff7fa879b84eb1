//! Every kind of malformed manifest is refused, with where and what was expected, and no
//! input makes the parser panic.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use proptest::prelude::*;
use wirecall_schema::{
    Field, Interface, Manifest, ManifestError, ManifestErrorKind as Kind, Mode, Type,
};

/// A manifest of one procedure `p` (id 7, a call, no parameters) with output `output`.
fn with_output(output: &[u8]) -> Vec<u8> {
    let mut bytes = vec![1, 1, b's', 1, 7, 1, b'p', 0, 0];
    bytes.extend_from_slice(output);
    bytes
}

fn error(bytes: &[u8]) -> ManifestError {
    Manifest::parse(bytes).expect_err("the manifest should be refused")
}

#[test]
fn unknown_format() {
    let e = error(&[3, 0, 0]);
    assert_eq!(
        e,
        ManifestError {
            offset: 0,
            kind: Kind::UnknownFormat(3)
        }
    );
    assert_eq!(
        e.to_string(),
        "manifest byte 0: expected format 1 or 2, got 3"
    );
    assert_eq!(error(&[0, 0, 0]).kind, Kind::UnknownFormat(0));
    assert_eq!(error(&[255]).kind, Kind::UnknownFormat(255));
}

#[test]
fn unknown_tag() {
    let e = error(&with_output(&[27]));
    assert_eq!(
        e,
        ManifestError {
            offset: 9,
            kind: Kind::UnknownTag(27)
        }
    );
    assert_eq!(
        e.to_string(),
        "manifest byte 9: expected a type tag (0 to 26), got 27"
    );
    // Inside an option, the offset is the inner tag's.
    assert_eq!(error(&with_output(&[16, 200])).offset, 10);
    // The same in format 2.
    let mut two = with_output(&[27]);
    two[0] = 2;
    two.extend_from_slice(&[1, 1, b'I', 0]);
    assert_eq!(error(&two).kind, Kind::UnknownTag(27));
}

#[test]
fn unknown_mode() {
    let e = error(&[1, 0, 1, 0, 0, 4, 0, 0]);
    assert_eq!(
        e,
        ManifestError {
            offset: 5,
            kind: Kind::UnknownMode(4)
        }
    );
    assert_eq!(
        e.to_string(),
        "manifest byte 5: expected a procedure mode (0 to 3), got 4"
    );
}

#[test]
fn unknown_variant_kind() {
    let e = error(&with_output(&[25, 1, b'E', 1, 1, b'A', 4]));
    assert_eq!(
        e,
        ManifestError {
            offset: 15,
            kind: Kind::UnknownVariantKind(4)
        }
    );
}

#[test]
fn trailing_bytes() {
    let mut bytes = common::demo_manifest().to_bytes();
    let end = bytes.len();
    bytes.extend_from_slice(&[0, 0]);
    let e = error(&bytes);
    assert_eq!(
        e,
        ManifestError {
            offset: end,
            kind: Kind::TrailingBytes(2)
        }
    );
    assert!(e
        .to_string()
        .ends_with("expected the end of the manifest, got 2 more bytes"));
}

#[test]
fn truncation_at_every_byte_is_refused() {
    let bytes = common::demo_manifest().to_bytes();
    for len in 0..bytes.len() {
        let e = error(&bytes[..len]);
        // A cut after a count shows as a count that cannot fit; anywhere else, as the end.
        match e.kind {
            Kind::Truncated { .. } => assert_eq!(e.offset, len, "cut at {len}: {e}"),
            Kind::CountTooLarge { left, .. } => assert!(e.offset < len && left < len, "{e}"),
            _ => panic!("cut at {len}: {e}"),
        }
    }
    let e = error(&bytes[..3]);
    assert_eq!(
        e.to_string(),
        "manifest byte 3: expected the service name, got the end of the manifest"
    );
}

#[test]
fn nesting_is_bounded_at_32_levels() {
    // 31 options around a unit: 32 levels, the most allowed.
    let mut ok = vec![16; 31];
    ok.push(0);
    assert!(Manifest::parse(&with_output(&ok)).is_ok());
    let mut deep = vec![16; 32];
    deep.push(0);
    let e = error(&with_output(&deep));
    assert_eq!(
        e,
        ManifestError {
            offset: 9 + 32,
            kind: Kind::TooDeep
        }
    );
    assert_eq!(
        e.to_string(),
        "manifest byte 41: types nested deeper than 32 levels"
    );
    // A hostile depth fails at the same place, without deep recursion.
    assert_eq!(error(&with_output(&vec![16; 100_000])).kind, Kind::TooDeep);
}

#[test]
fn counts_that_cannot_fit_are_refused_before_allocating() {
    // u32::MAX procedures in a handful of bytes.
    let e = error(&[1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0]);
    assert_eq!(
        e,
        ManifestError {
            offset: 2,
            kind: Kind::CountTooLarge {
                what: "procedures",
                count: u32::MAX,
                left: 1
            }
        }
    );
    assert_eq!(
        e.to_string(),
        "manifest byte 2: 4294967295 procedures cannot fit in the 1 bytes left"
    );
    // A tuple of a million items with three bytes left.
    let e = error(&with_output(&[19, 0xc0, 0x84, 0x3d, 0, 0, 0]));
    assert!(
        matches!(
            e.kind,
            Kind::CountTooLarge {
                what: "tuple items",
                count: 1_000_000,
                left: 3
            }
        ),
        "{e}"
    );
    // A string length beyond the bytes left is a truncation.
    let e = error(&[1, 0xff, 0x01, b'x']);
    assert_eq!(
        e.kind,
        Kind::Truncated {
            expected: "the service name"
        }
    );
}

#[test]
fn varints_longer_than_five_bytes_or_above_u32_are_refused() {
    let e = error(&[1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
    assert_eq!(
        e,
        ManifestError {
            offset: 2,
            kind: Kind::VarintTooLong {
                expected: "procedures"
            }
        }
    );
    let e = error(&[1, 0, 0xff, 0xff, 0xff, 0xff, 0x1f]);
    assert_eq!(
        e,
        ManifestError {
            offset: 2,
            kind: Kind::VarintOverflow {
                expected: "procedures"
            }
        }
    );
    assert_eq!(
        e.to_string(),
        "manifest byte 2: expected procedures, got a varint above u32::MAX"
    );
    let e = error(&with_output(&[15, 0x80, 0x80, 0x80, 0x80, 0x10]));
    assert_eq!(
        e.kind,
        Kind::VarintOverflow {
            expected: "a string's max bytes"
        }
    );
}

#[test]
fn names_must_be_utf8() {
    let e = error(&[1, 2, 0xc3, 0x28, 0]);
    assert_eq!(
        e,
        ManifestError {
            offset: 1,
            kind: Kind::InvalidUtf8 {
                expected: "the service name"
            }
        }
    );
    let e = error(&with_output(&[21, 1, 0xff, 0]));
    assert_eq!(
        e.kind,
        Kind::InvalidUtf8 {
            expected: "a struct name"
        }
    );
}

#[test]
fn duplicate_names_and_ids_are_refused() {
    let dup_field = Type::structure(
        "S",
        vec![Field::new("x", Type::U8), Field::new("x", Type::U8)],
    );
    let manifest = Manifest {
        service: "s".into(),
        procedures: vec![common::procedure(0, "p", vec![], dup_field, Mode::Call)],
        interfaces: vec![],
    };
    let e = error(&manifest.to_bytes());
    assert_eq!(
        e.kind,
        Kind::Duplicate {
            what: "field name",
            name: "x".into()
        }
    );

    let mut manifest = common::demo_manifest();
    let mut again = manifest.procedures[0].clone();
    again.id = 99;
    manifest.procedures.push(again);
    let e = error(&manifest.to_bytes());
    assert_eq!(
        e.kind,
        Kind::Duplicate {
            what: "procedure name",
            name: "add".into()
        }
    );
    assert!(e.to_string().ends_with("duplicate procedure name add"));

    let mut manifest = common::demo_manifest();
    manifest.procedures[1].id = manifest.procedures[0].id;
    let e = error(&manifest.to_bytes());
    assert_eq!(
        e.kind,
        Kind::Duplicate {
            what: "procedure id",
            name: "0".into()
        }
    );

    let params = vec![Field::new("a", Type::U8), Field::new("a", Type::U8)];
    let manifest = Manifest {
        service: "s".into(),
        procedures: vec![common::procedure(0, "p", params, Type::Unit, Mode::Call)],
        interfaces: vec![],
    };
    assert_eq!(
        error(&manifest.to_bytes()).kind,
        Kind::Duplicate {
            what: "parameter name",
            name: "a".into()
        }
    );
}

/// A format-2 manifest of service `s`: no procedures, then interface `I` whose one method
/// `m` (id 0, a call, no parameters) has output `output`.
fn interface_with_output(output: &[u8]) -> Vec<u8> {
    let mut bytes = vec![2, 1, b's', 0, 1, 1, b'I', 1, 0, 1, b'm', 0, 0];
    bytes.extend_from_slice(output);
    bytes
}

#[test]
fn a_handle_names_a_declared_interface_or_none() {
    // In a method, a handle (tag 26) of its own interface.
    assert!(Manifest::parse(&interface_with_output(&[26, 1, b'I'])).is_ok());
    // Of any interface.
    assert!(Manifest::parse(&interface_with_output(&[26, 0])).is_ok());
    let e = error(&interface_with_output(&[26, 1, b'J']));
    assert_eq!(
        e,
        ManifestError {
            offset: 13,
            kind: Kind::UnknownInterface("J".into())
        }
    );
    assert_eq!(
        e.to_string(),
        "manifest byte 13: a handle of interface J, which the manifest does not declare"
    );
    // A handle declared before its interface is checked once the interfaces are read; in
    // format 1 (no interfaces) only a handle of any interface is possible.
    assert!(Manifest::parse(&with_output(&[26, 0])).is_ok());
    assert_eq!(
        error(&with_output(&[26, 1, b'I'])),
        ManifestError {
            offset: 9,
            kind: Kind::UnknownInterface("I".into())
        }
    );
    // Deep inside a type.
    let e = error(&with_output(&[16, 19, 2, 2, 26, 1, b'X']));
    assert_eq!((e.offset, e.kind), (13, Kind::UnknownInterface("X".into())));
    assert_eq!(
        error(&interface_with_output(&[26, 1])).kind,
        Kind::Truncated {
            expected: "a handle's interface name"
        }
    );
}

#[test]
fn format_2_declares_at_least_one_interface() {
    let e = error(&[2, 1, b's', 0, 0]);
    assert_eq!(
        e,
        ManifestError {
            offset: 4,
            kind: Kind::NoInterfaces
        }
    );
    assert_eq!(
        e.to_string(),
        "manifest byte 4: expected at least one interface in format 2, got none"
    );
    // And format 1 has nothing after its procedures.
    assert_eq!(error(&[1, 1, b's', 0, 0]).kind, Kind::TrailingBytes(1));
    assert_eq!(
        error(&[2, 1, b's', 0]).kind,
        Kind::Truncated {
            expected: "interfaces"
        }
    );
}

#[test]
fn interface_counts_and_names_are_checked() {
    let e = error(&[2, 1, b's', 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0]);
    assert_eq!(
        e,
        ManifestError {
            offset: 4,
            kind: Kind::CountTooLarge {
                what: "interfaces",
                count: u32::MAX,
                left: 1
            }
        }
    );
    let e = error(&[2, 1, b's', 0, 1, 1, b'I', 0x80, 0x80, 0x80, 0x80, 0x80, 0]);
    assert_eq!(
        e.kind,
        Kind::VarintTooLong {
            expected: "methods"
        }
    );
    let e = error(&[2, 1, b's', 0, 1, 1, b'I', 100, 0]);
    assert!(
        matches!(
            e.kind,
            Kind::CountTooLarge {
                what: "methods",
                count: 100,
                ..
            }
        ),
        "{e}"
    );
    let e = error(&[2, 1, b's', 0, 1, 2, 0xc3, 0x28, 0]);
    assert_eq!(
        e,
        ManifestError {
            offset: 5,
            kind: Kind::InvalidUtf8 {
                expected: "an interface name"
            }
        }
    );
}

#[test]
fn duplicate_interfaces_and_methods_are_refused() {
    let mut manifest = common::handles_manifest();
    manifest.interfaces[1].name = "Channel".into();
    let e = error(&manifest.to_bytes());
    assert_eq!(
        e.kind,
        Kind::Duplicate {
            what: "interface name",
            name: "Channel".into()
        }
    );

    let mut manifest = common::handles_manifest();
    let mut again = manifest.interfaces[0].methods[0].clone();
    again.id = 99;
    manifest.interfaces[0].methods.push(again);
    let e = error(&manifest.to_bytes());
    assert_eq!(
        e.kind,
        Kind::Duplicate {
            what: "method name",
            name: "read".into()
        }
    );
    assert!(e.to_string().ends_with("duplicate method name read"));

    let mut manifest = common::handles_manifest();
    manifest.interfaces[0].methods[1].id = 0;
    assert_eq!(
        error(&manifest.to_bytes()).kind,
        Kind::Duplicate {
            what: "method id",
            name: "0".into()
        }
    );

    // Names and numbers repeat freely across interfaces and the service's procedures.
    let manifest = Manifest {
        service: "s".into(),
        procedures: vec![common::procedure(0, "read", vec![], Type::Unit, Mode::Call)],
        interfaces: vec![
            Interface {
                name: "A".into(),
                methods: vec![common::procedure(0, "read", vec![], Type::Unit, Mode::Call)],
            },
            Interface {
                name: "B".into(),
                methods: vec![common::procedure(0, "read", vec![], Type::Unit, Mode::Call)],
            },
        ],
    };
    assert_eq!(Manifest::parse(&manifest.to_bytes()), Ok(manifest));
}

#[test]
fn truncation_of_a_format_2_manifest_at_every_byte_is_refused() {
    let bytes = common::handles_manifest().to_bytes();
    assert_eq!(bytes[0], 2);
    for len in 0..bytes.len() {
        let e = error(&bytes[..len]);
        match e.kind {
            Kind::Truncated { .. } => assert_eq!(e.offset, len, "cut at {len}: {e}"),
            Kind::CountTooLarge { left, .. } => assert!(e.offset < len && left < len, "{e}"),
            _ => panic!("cut at {len}: {e}"),
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(error(&longer).kind, Kind::TrailingBytes(1));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Manifest::parse(&bytes);
    }

    #[test]
    fn random_bytes_after_the_format_byte_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut input = vec![1];
        input.extend(bytes);
        if let Ok(manifest) = Manifest::parse(&input) {
            // Whatever parses writes back to the same bytes, varints aside.
            prop_assert_eq!(Manifest::parse(&manifest.to_bytes()), Ok(manifest));
        }
    }

    #[test]
    fn random_bytes_after_format_byte_2_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut input = vec![2];
        input.extend(bytes);
        if let Ok(manifest) = Manifest::parse(&input) {
            prop_assert_eq!(Manifest::parse(&manifest.to_bytes()), Ok(manifest));
        }
    }

    #[test]
    fn flipped_bytes_of_a_valid_manifest_never_panic(at in 0usize..1000, value in any::<u8>()) {
        let mut bytes = common::demo_manifest().to_bytes();
        let at = at % bytes.len();
        bytes[at] = value;
        let _ = Manifest::parse(&bytes);
        let mut bytes = common::handles_manifest().to_bytes();
        let at = at % bytes.len();
        bytes[at] = value;
        if let Ok(manifest) = Manifest::parse(&bytes) {
            prop_assert_eq!(Manifest::parse(&manifest.to_bytes()), Ok(manifest));
        }
    }
}
