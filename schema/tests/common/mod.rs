//! What several test files share: a manifest using every tag and mode, and a proptest
//! strategy for types.

#![allow(dead_code)] // each test file uses a part

pub(crate) mod values;

use proptest::prelude::*;
use wirecall_schema::{Field, Interface, Manifest, Mode, Procedure, Type, Variant, VariantKind};

/// `enum Mode { Off, On, Blink { hz: u8 } }`, the enum of the error-message examples.
pub(crate) fn mode_enum() -> Type {
    Type::enumeration(
        "Mode",
        vec![
            Variant::new("Off", VariantKind::Unit),
            Variant::new("On", VariantKind::Unit),
            Variant::new(
                "Blink",
                VariantKind::Struct(vec![Field::new("hz", Type::U8)]),
            ),
        ],
    )
}

/// `struct Info { version: u32, name: String<16> }`.
pub(crate) fn info_struct() -> Type {
    Type::structure(
        "Info",
        vec![
            Field::new("version", Type::U32),
            Field::new("name", Type::string(16)),
        ],
    )
}

pub(crate) fn procedure(
    id: u32,
    name: &str,
    params: Vec<Field>,
    output: Type,
    mode: Mode,
) -> Procedure {
    Procedure {
        id,
        name: name.to_owned(),
        params,
        output,
        mode,
    }
}

/// A service whose procedures use every type tag, every variant kind and every mode.
pub(crate) fn demo_manifest() -> Manifest {
    let every_primitive = Type::Tuple(vec![
        Type::Unit,
        Type::Bool,
        Type::U8,
        Type::U16,
        Type::U32,
        Type::U64,
        Type::U128,
        Type::I8,
        Type::I16,
        Type::I32,
        Type::I64,
        Type::I128,
        Type::F32,
        Type::F64,
        Type::Char,
        Type::string(0),
    ]);
    let shape = Type::enumeration(
        "Shape",
        vec![
            Variant::new("Empty", VariantKind::Unit),
            Variant::new("Circle", VariantKind::Newtype(Type::F32)),
            Variant::new("Rect", VariantKind::Tuple(vec![Type::U16, Type::U16])),
            Variant::new(
                "Poly",
                VariantKind::Struct(vec![Field::new(
                    "points",
                    Type::seq(8, Type::array(2, Type::I32)),
                )]),
            ),
        ],
    );
    let config = Type::structure(
        "Config",
        vec![
            Field::new(
                "limits",
                Type::map(4, Type::string(8), Type::option(Type::U64)),
            ),
            Field::new(
                "point",
                Type::TupleStruct {
                    name: "Point".into(),
                    fields: vec![Type::I32, Type::I32],
                },
            ),
            Field::new(
                "ping",
                Type::UnitStruct {
                    name: "Ping".into(),
                },
            ),
            Field::new("meters", Type::newtype("Meters", Type::U32)),
            Field::new("shape", shape),
            Field::new("all", every_primitive),
        ],
    );
    Manifest {
        service: "demo".into(),
        procedures: vec![
            procedure(
                0,
                "add",
                vec![Field::new("a", Type::I32), Field::new("b", Type::I32)],
                Type::I32,
                Mode::Call,
            ),
            procedure(
                1,
                "echo",
                vec![Field::new("data", Type::seq(200, Type::U8))],
                Type::seq(200, Type::U8),
                Mode::Call,
            ),
            procedure(2, "info", vec![], info_struct(), Mode::Call),
            procedure(
                3,
                "set",
                vec![Field::new("mode", mode_enum())],
                Type::Unit,
                Mode::Call,
            ),
            procedure(
                4,
                "configure",
                vec![Field::new("config", config)],
                Type::Bool,
                Mode::Call,
            ),
            procedure(
                5,
                "count",
                vec![Field::new("n", Type::U32)],
                Type::Unit,
                Mode::ServerStream { item: Type::U32 },
            ),
            procedure(
                6,
                "sum",
                vec![],
                Type::U64,
                Mode::ClientStream { in_item: Type::U32 },
            ),
            procedure(
                300,
                "chat",
                vec![Field::new("room", Type::string(32))],
                Type::Unit,
                Mode::Bidi {
                    item: Type::string(0),
                    in_item: Type::string(0),
                },
            ),
        ],
        interfaces: vec![],
    }
}

/// The `Channel` interface of the handles examples: `read() -> i32`,
/// `configure(scale: i32) -> i32`, `info() -> Info` and a stream `watch() -> stream i32`.
pub(crate) fn channel_interface() -> Interface {
    Interface {
        name: "Channel".into(),
        methods: vec![
            procedure(0, "read", vec![], Type::I32, Mode::Call),
            procedure(
                1,
                "configure",
                vec![Field::new("scale", Type::I32)],
                Type::I32,
                Mode::Call,
            ),
            procedure(2, "info", vec![], info_struct(), Mode::Call),
            procedure(
                300,
                "watch",
                vec![],
                Type::Unit,
                Mode::ServerStream { item: Type::I32 },
            ),
        ],
    }
}

/// [`demo_manifest`] with handles (format 2): `open(name: String<16>) -> handle Channel`,
/// `any() -> Option<handle>` (a handle of any interface), and two interfaces, `Channel`
/// and `Log` (whose method numbers repeat the service's and `Channel`'s).
pub(crate) fn handles_manifest() -> Manifest {
    let mut manifest = demo_manifest();
    manifest.procedures.push(procedure(
        7,
        "open",
        vec![Field::new("name", Type::string(16))],
        Type::handle("Channel"),
        Mode::Call,
    ));
    manifest.procedures.push(procedure(
        8,
        "any",
        vec![],
        Type::option(Type::handle("")),
        Mode::Call,
    ));
    manifest.interfaces = vec![
        channel_interface(),
        Interface {
            name: "Log".into(),
            methods: vec![
                procedure(
                    0,
                    "append",
                    vec![Field::new("line", Type::string(0))],
                    Type::Unit,
                    Mode::Call,
                ),
                procedure(1, "channel", vec![], Type::handle("Channel"), Mode::Call),
            ],
        },
    ];
    manifest
}

/// Any type, up to a few levels deep, with distinct names where names must differ.
pub(crate) fn arb_type() -> impl Strategy<Value = Type> {
    arb_type_with(0)
}

/// Any type that has values: as [`arb_type`], without enums of no variants.
pub(crate) fn arb_inhabited_type() -> impl Strategy<Value = Type> {
    arb_type_with(1)
}

fn arb_type_with(min_variants: usize) -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![
        Just(Type::Unit),
        Just(Type::Bool),
        Just(Type::U8),
        Just(Type::U16),
        Just(Type::U32),
        Just(Type::U64),
        Just(Type::U128),
        Just(Type::I8),
        Just(Type::I16),
        Just(Type::I32),
        Just(Type::I64),
        Just(Type::I128),
        Just(Type::F32),
        Just(Type::F64),
        Just(Type::Char),
        (0u32..6).prop_map(Type::string),
        Just(Type::UnitStruct {
            name: "Ping".into()
        }),
    ];
    leaf.prop_recursive(4, 48, 4, move |inner| {
        let list = proptest::collection::vec(inner.clone(), 0..4);
        prop_oneof![
            inner.clone().prop_map(Type::option),
            (0u32..4, inner.clone()).prop_map(|(max, item)| Type::seq(max, item)),
            (0u32..4, inner.clone(), inner.clone()).prop_map(|(max, k, v)| Type::map(max, k, v)),
            list.clone().prop_map(Type::Tuple),
            (0u32..4, inner.clone()).prop_map(|(len, item)| Type::array(len, item)),
            list.clone()
                .prop_map(|types| Type::structure("S", named(types))),
            list.clone().prop_map(|fields| Type::TupleStruct {
                name: "T".into(),
                fields
            }),
            inner.clone().prop_map(|t| Type::newtype("N", t)),
            proptest::collection::vec((0u8..4, list), min_variants..4).prop_map(|variants| {
                let variants = variants
                    .into_iter()
                    .enumerate()
                    .map(|(i, (kind, types))| {
                        let kind = match (kind, types.first()) {
                            (1, Some(t)) => VariantKind::Newtype(t.clone()),
                            (2, _) => VariantKind::Tuple(types),
                            (3, _) => VariantKind::Struct(named(types)),
                            _ => VariantKind::Unit,
                        };
                        Variant::new(format!("V{i}"), kind)
                    })
                    .collect();
                Type::enumeration("E", variants)
            }),
        ]
    })
}

/// Fields `f0`, `f1`, ... of the given types.
fn named(types: Vec<Type>) -> Vec<Field> {
    types
        .into_iter()
        .enumerate()
        .map(|(i, t)| Field::new(format!("f{i}"), t))
        .collect()
}

/// Any manifest of a few procedures with types from [`arb_type`].
pub(crate) fn arb_manifest() -> impl Strategy<Value = Manifest> {
    ("[a-z]{0,6}", arb_procedures()).prop_map(|(service, procedures)| Manifest {
        service,
        procedures,
        interfaces: vec![],
    })
}

/// A few procedures (`p0`, `p1`, ... numbered 0, 1000, ...) with types from [`arb_type`].
fn arb_procedures() -> impl Strategy<Value = Vec<Procedure>> {
    let proc = (
        proptest::collection::vec(arb_type(), 0..3),
        arb_type(),
        0u8..4,
        arb_type(),
        arb_type(),
    );
    proptest::collection::vec(proc, 0..4).prop_map(|procs| {
        procs
            .into_iter()
            .enumerate()
            .map(|(i, (params, output, mode, item, in_item))| {
                let mode = match mode {
                    0 => Mode::Call,
                    1 => Mode::ClientStream { in_item },
                    2 => Mode::ServerStream { item },
                    _ => Mode::Bidi { item, in_item },
                };
                procedure(
                    i as u32 * 1000,
                    &format!("p{i}"),
                    named(params),
                    output,
                    mode,
                )
            })
            .collect()
    })
}

/// Any manifest with handles (format 2): one to three interfaces `I0`, `I1`, ... of a
/// few methods each, and procedures and methods some of whose results are handles of them
/// (or of any interface), possibly inside other types.
pub(crate) fn arb_handles_manifest() -> impl Strategy<Value = Manifest> {
    (
        "[a-z]{0,6}",
        arb_procedures(),
        proptest::collection::vec(arb_procedures(), 1..4),
        proptest::collection::vec((any::<u8>(), 0usize..4, 0u8..3), 0..6),
    )
        .prop_map(|(service, procedures, methods, handles)| {
            let mut manifest = Manifest {
                service,
                procedures,
                interfaces: methods
                    .into_iter()
                    .enumerate()
                    .map(|(i, methods)| Interface {
                        name: format!("I{i}"),
                        methods,
                    })
                    .collect(),
            };
            // Turn some results into handles: `which` picks the procedure or method,
            // `interface` the interface (past the last: any), `wrap` how it is held.
            let n = manifest.interfaces.len();
            for (which, interface, wrap) in handles {
                let name = if interface < n {
                    format!("I{interface}")
                } else {
                    String::new()
                };
                let all: Vec<&mut Procedure> = manifest
                    .procedures
                    .iter_mut()
                    .chain(manifest.interfaces.iter_mut().flat_map(|i| &mut i.methods))
                    .collect();
                let count = all.len();
                if let Some(p) = all.into_iter().nth(which as usize % count.max(1)) {
                    p.output = match wrap {
                        0 => Type::handle(name),
                        1 => Type::option(Type::handle(name)),
                        _ => Type::Tuple(vec![Type::U8, Type::handle(name)]),
                    };
                }
            }
            manifest
        })
}

/// Any type without a name that the notation writes and reads back: the primitives,
/// bounded and unbounded strings, sequences and maps, options, tuples of one or more (the
/// empty tuple prints as `()`, the unit type), arrays, and handles of any interface or of
/// one named like a Rust identifier. Bounds and lengths range over all of `u32`.
pub(crate) fn arb_anonymous_type() -> impl Strategy<Value = Type> {
    let bound = prop_oneof![Just(0u32), 1u32..300, Just(u32::MAX), any::<u32>()];
    let leaf = prop_oneof![
        Just(Type::Unit),
        Just(Type::Bool),
        Just(Type::U8),
        Just(Type::U16),
        Just(Type::U32),
        Just(Type::U64),
        Just(Type::U128),
        Just(Type::I8),
        Just(Type::I16),
        Just(Type::I32),
        Just(Type::I64),
        Just(Type::I128),
        Just(Type::F32),
        Just(Type::F64),
        Just(Type::Char),
        bound.clone().prop_map(Type::string),
        prop_oneof![Just(String::new()), "[A-Za-z_][A-Za-z0-9_]{0,8}"].prop_map(Type::handle),
    ];
    leaf.prop_recursive(6, 64, 4, move |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::option),
            (bound.clone(), inner.clone()).prop_map(|(max, item)| Type::seq(max, item)),
            (bound.clone(), inner.clone(), inner.clone())
                .prop_map(|(max, k, v)| Type::map(max, k, v)),
            proptest::collection::vec(inner.clone(), 1..5).prop_map(Type::Tuple),
            (bound.clone(), inner.clone()).prop_map(|(len, item)| Type::array(len, item)),
        ]
    })
}
