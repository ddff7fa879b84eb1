//! Declaring a service: `Manifest::from_json` reads the JSON form back, and the shorter
//! declaration a server written in another language gives, and refuses what the byte
//! parser refuses, with the JSON path of the problem.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use wirecall_schema::{
    Field, Interface, JsonFormError, Manifest, Mode, Type, Variant, VariantKind, MAX_DEPTH,
};

fn read(json: Value) -> Manifest {
    Manifest::from_json(&json).unwrap_or_else(|e| panic!("{e}"))
}

fn says(json: Value) -> String {
    Manifest::from_json(&json).unwrap_err().to_string()
}

/// A service of one procedure declared as `procedure`.
fn one(procedure: Value) -> Value {
    json!({"service": "demo", "procedures": [procedure]})
}

fn says_of_procedure(procedure: Value) -> String {
    says(one(procedure))
}

fn says_of_type(ty: Value) -> String {
    Type::from_json(&ty).unwrap_err().to_string()
}

#[test]
fn the_json_form_reads_back() {
    for manifest in [common::demo_manifest(), common::handles_manifest()] {
        let form = serde_json::to_value(&manifest).unwrap();
        assert_eq!(Manifest::from_json(&form), Ok(manifest.clone()));
        // And from its text, as another process would send it.
        let text = serde_json::to_string_pretty(&manifest).unwrap();
        let form: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(Manifest::from_json(&form), Ok(manifest));
    }
}

#[test]
fn a_short_declaration() {
    let manifest = read(json!({
        "service": "demo",
        "procedures": [
            {"name": "add", "params": {"a": "i32", "b": "i32"}, "output": "i32"},
            {"name": "reset"},
            {"name": "count", "params": {"n": "u32"}, "kind": "server stream", "item": "u32"},
            {"name": "sum", "in_item": "u32", "output": "u64"},
            {"name": "chat", "params": [{"name": "room", "type": "String<32>"}],
             "item": "String", "in_item": "String"},
            {"name": "open", "params": {"name": "String<16>"}, "output": "handle Channel"},
        ],
        "interfaces": [
            {"name": "Channel", "methods": [
                {"name": "read", "output": "i32"},
                {"name": "watch", "kind": "server stream", "item": "i32"},
            ]},
        ],
    }));
    let signatures: Vec<String> = manifest
        .procedures
        .iter()
        .map(wirecall_schema::signature)
        .collect();
    assert_eq!(
        signatures,
        [
            "add(a: i32, b: i32) -> i32",
            "reset()",
            "count(n: u32) -> stream u32",
            "sum(stream u32) -> u64",
            "chat(room: String<32>, stream String) -> stream String",
            "open(name: String<16>) -> handle Channel",
        ]
    );
    let ids: Vec<u32> = manifest.procedures.iter().map(|p| p.id).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
    let channel = manifest.interface("Channel").unwrap();
    assert_eq!(channel.method("watch").unwrap().id, 1);
    assert_eq!(
        channel.method("watch").unwrap().mode,
        Mode::ServerStream { item: Type::I32 }
    );
    assert_eq!(manifest.format(), 2);
    // The bytes are what a device would send, and say the same.
    assert_eq!(Manifest::parse(&manifest.to_bytes()), Ok(manifest));
}

#[test]
fn missing_ids_are_the_first_free_numbers_in_order() {
    let manifest = read(json!({
        "service": "s",
        "procedures": [
            {"name": "a"}, {"name": "b", "id": 0}, {"name": "c"}, {"name": "d", "id": 3},
            {"name": "e"}, {"name": "f", "id": 2}, {"name": "g"},
        ],
        "interfaces": [
            {"name": "I", "methods": [{"name": "m", "id": 1}, {"name": "n"}, {"name": "o"}]},
            {"name": "J", "methods": [{"name": "m"}]},
        ],
    }));
    let ids: Vec<(&str, u32)> = manifest
        .procedures
        .iter()
        .map(|p| (p.name.as_str(), p.id))
        .collect();
    assert_eq!(
        ids,
        [
            ("a", 1),
            ("b", 0),
            ("c", 4),
            ("d", 3),
            ("e", 5),
            ("f", 2),
            ("g", 6)
        ]
    );
    // Each interface numbers its methods apart, from 0.
    let ids = |i: &Interface| i.methods.iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(&manifest.interfaces[0]), [1, 0, 2]);
    assert_eq!(ids(&manifest.interfaces[1]), [0]);
    // The highest id given leaves room for none after it only if the list is that long.
    let manifest = read(one(json!({"name": "a", "id": u32::MAX})));
    assert_eq!(manifest.procedures[0].id, u32::MAX);
}

#[test]
fn params_and_fields_as_objects_or_arrays_and_types_as_notation_or_objects() {
    let info = json!({"type": "struct", "name": "Info", "fields": {
        "version": "u32",
        "name": {"type": "string", "max": 16},
    }});
    let info_as_array = json!({"type": "struct", "name": "Info", "fields": [
        {"name": "version", "type": {"type": "u32"}},
        {"name": "name", "type": "String<16>"},
    ]});
    assert_eq!(Type::from_json(&info), Ok(common::info_struct()));
    assert_eq!(Type::from_json(&info_as_array), Ok(common::info_struct()));
    // Variants with their kind, or with the kind their body implies.
    let mode = json!({"type": "enum", "name": "Mode", "variants": [
        {"name": "Off"},
        {"name": "On", "kind": "unit"},
        {"name": "Blink", "fields": {"hz": "u8"}},
    ]});
    assert_eq!(Type::from_json(&mode), Ok(common::mode_enum()));
    let shape = json!({"type": "enum", "name": "Shape", "variants": [
        {"name": "Circle", "inner": "f32"},
        {"name": "Rect", "kind": "tuple", "items": ["u16", {"type": "u16"}]},
    ]});
    assert_eq!(
        Type::from_json(&shape),
        Ok(Type::enumeration(
            "Shape",
            vec![
                Variant::new("Circle", VariantKind::Newtype(Type::F32)),
                Variant::new("Rect", VariantKind::Tuple(vec![Type::U16, Type::U16])),
            ]
        ))
    );
    // Named types nest inside notation-free objects; anonymous ones as either.
    let ty = json!({"type": "seq", "max": 4, "item": {"type": "option", "some": info}});
    assert_eq!(
        Type::from_json(&ty),
        Ok(Type::seq(4, Type::option(common::info_struct())))
    );
    assert_eq!(
        Type::from_json(&json!("Map<u8, Option<handle Channel>, 3>")),
        Ok(Type::map(
            3,
            Type::U8,
            Type::option(Type::handle("Channel"))
        ))
    );
    assert_eq!(
        Type::from_json(&json!({"type": "string", "max": 0})),
        Ok(Type::string(0))
    );
    assert_eq!(
        Type::from_json(&json!({"type": "handle"})),
        Ok(Type::handle(""))
    );
    assert_eq!(
        Type::from_json(&json!({"type": "tuple", "items": []})),
        Ok(Type::Tuple(vec![]))
    );
    // Parameters in declaration order, whichever form.
    let manifest = read(one(
        json!({"name": "p", "params": {"z": "u8", "a": "bool"}}),
    ));
    assert_eq!(
        manifest.procedures[0].params,
        [Field::new("z", Type::U8), Field::new("a", Type::Bool)]
    );
}

#[test]
fn kinds_and_their_items() {
    let mode = |p: Value| read(one(p)).procedures[0].mode.clone();
    assert_eq!(mode(json!({"name": "p"})), Mode::Call);
    assert_eq!(
        mode(json!({"name": "p", "kind": "call", "item": null})),
        Mode::Call
    );
    assert_eq!(
        mode(json!({"name": "p", "kind": "client stream", "in_item": "u8"})),
        Mode::ClientStream { in_item: Type::U8 }
    );
    assert_eq!(
        mode(json!({"name": "p", "item": "u8", "in_item": "char"})),
        Mode::Bidi {
            item: Type::U8,
            in_item: Type::Char
        }
    );
    assert_eq!(
        says_of_procedure(json!({"name": "p", "kind": "server stream"})),
        "procedures[0]: missing \"item\" (a server stream needs the type of the items the server sends)"
    );
    assert_eq!(
        says_of_procedure(json!({"name": "p", "kind": "bidi stream", "item": "u8"})),
        "procedures[0]: missing \"in_item\" (a bidi stream needs the type of the items the caller sends)"
    );
    assert_eq!(
        says_of_procedure(json!({"name": "p", "kind": "call", "item": "u8"})),
        "procedures[0].item: a call has no item (the server sends none)"
    );
    assert_eq!(
        says_of_procedure(
            json!({"name": "p", "kind": "server stream", "item": "u8", "in_item": "u8"})
        ),
        "procedures[0].in_item: a server stream has no in_item (the caller sends none)"
    );
    assert_eq!(
        says_of_procedure(json!({"name": "p", "kind": "stream"})),
        "procedures[0].kind: unknown kind \"stream\" (expected \"call\", \"client stream\", \
         \"server stream\" or \"bidi stream\")"
    );
}

#[test]
fn errors_name_the_json_path() {
    let cases = [
        (
            one(json!({"name": "add", "params": {"a": "i32", "b": "i33"}})),
            r#"procedures[0].params.b: unknown type "i33""#,
        ),
        (
            one(json!({"name": "add", "params": [{"name": "a", "type": "Vec<>"}]})),
            r#"procedures[0].params[0].type: expected a type at 4 in "Vec<>", got `>`"#,
        ),
        (
            one(json!({"name": "p", "params": {"a b": "u7"}})),
            r#"procedures[0].params["a b"]: unknown type "u7""#,
        ),
        (
            one(json!({"name": "p", "params": 3})),
            r#"procedures[0].params: expected an object of name to type ({"a": "i32"}) or an array of {"name", "type"} objects, got 3"#,
        ),
        (
            one(json!({"name": "p", "params": [{"name": "a", "type": "u8"}, {"name": "a", "type": "u8"}]})),
            "procedures[0].params[1]: duplicate parameter name a",
        ),
        (
            one(json!({"name": "p", "output": 5})),
            r#"procedures[0].output: expected a type: a string such as "u8" or "Vec<u8, 16>", or an object such as {"type": "struct", ...}, got 5"#,
        ),
        (
            one(json!({"name": "p", "ouptut": "u8"})),
            "procedures[0].ouptut: unknown member (expected id, name, kind, signature, params, output, item, in_item)",
        ),
        (
            one(json!({"params": {}})),
            r#"procedures[0]: missing "name" (the procedure's name)"#,
        ),
        (
            one(json!({"name": "p", "id": -1})),
            "procedures[0].id: expected a whole number from 0 to 4294967295, got -1",
        ),
        (
            one(json!({"name": "p", "id": 4_294_967_296u64})),
            "procedures[0].id: expected a whole number from 0 to 4294967295, got 4294967296",
        ),
        (
            json!({"service": "s", "procedures": [{"name": "a"}, {"name": "a"}]}),
            "procedures[1]: duplicate procedure name a",
        ),
        (
            json!({"service": "s", "procedures": [{"name": "a", "id": 7}, {"name": "b", "id": 7}]}),
            "procedures[1].id: duplicate procedure id 7",
        ),
        (
            json!({"service": "s", "procedures": [], "interfaces": [
                {"name": "I", "methods": [{"name": "m", "id": 1}, {"name": "n", "id": 1}]}]}),
            "interfaces[0].methods[1].id: duplicate method id 1",
        ),
        (
            json!({"service": "s", "procedures": [], "interfaces": [
                {"name": "I", "methods": [{"name": "m"}, {"name": "m"}]}]}),
            "interfaces[0].methods[1]: duplicate method name m",
        ),
        (
            json!({"service": "s", "procedures": [], "interfaces": [
                {"name": "I", "methods": []}, {"name": "I", "methods": []}]}),
            "interfaces[1]: duplicate interface name I",
        ),
        (
            one(json!({"name": "open", "output": "Option<handle Channel>"})),
            "procedures[0].output: a handle of interface Channel, which the manifest does not declare (declare it in \"interfaces\")",
        ),
        (
            json!({"service": "s", "procedures": [], "interfaces": [{"name": "I", "methods": [
                {"name": "m", "output": {"type": "handle", "interface": "J"}}]}]}),
            "interfaces[0].methods[0].output: a handle of interface J, which the manifest does not declare (declare it in \"interfaces\")",
        ),
        (
            json!({"format": 2, "service": "s", "procedures": []}),
            "format: expected 1 (format 1 without interfaces, 2 with), got 2",
        ),
        (
            json!({"format": "1", "service": "s", "procedures": []}),
            r#"format: expected 1 (format 1 without interfaces, 2 with), got "1""#,
        ),
        (
            json!({"service": "s"}),
            r#"missing "procedures" (an array of procedures)"#,
        ),
        (
            json!({"service": 1, "procedures": []}),
            "service: expected a string, got 1",
        ),
        (
            json!([]),
            r#"expected a manifest: {"service", "procedures", ...}, got []"#,
        ),
        (
            json!({"service": "s", "procedures": {}}),
            "procedures: expected an array, got {}",
        ),
        (
            json!({"service": "s", "procedures": [], "interfaces": [{"name": "I"}]}),
            r#"interfaces[0]: missing "methods" (an array of methods)"#,
        ),
    ];
    for (json, expected) in cases {
        assert_eq!(says(json), expected);
    }
    // The parts of the error apart.
    let error = Manifest::from_json(&one(json!({"name": "p", "output": "i33"}))).unwrap_err();
    assert_eq!(
        error,
        JsonFormError {
            path: "procedures[0].output".into(),
            message: r#"unknown type "i33""#.into(),
        }
    );
    let _: &dyn std::error::Error = &error;
}

#[test]
fn type_errors_name_the_path_within_the_type() {
    let cases = [
        (
            json!("Info"),
            r#"unknown type "Info" (a struct or enum cannot be named in the notation: describe it as an object, {"type": "struct", "name": "Info", "fields": {...}} or {"type": "enum", "name": "Info", "variants": [...]})"#,
        ),
        (
            json!({"type": "Vec<u8>"}),
            "type: unknown type kind \"Vec<u8>\" (expected one of unit, bool, u8, u16, u32, u64, u128, \
             i8, i16, i32, i64, i128, f32, f64, char, string, option, seq, map, tuple, array, struct, \
             tuple_struct, unit_struct, newtype_struct, enum, handle; a type in the notation is given \
             as a string, not as an object's \"type\")",
        ),
        (
            json!({"type": "string", "maxx": 8}),
            "maxx: unknown member (expected type, max)",
        ),
        (
            json!({"type": "seq", "max": 1.5, "item": "u8"}),
            "max: expected a whole number from 0 to 4294967295, got 1.5",
        ),
        (
            json!({"type": "option"}),
            r#"missing "some" (a type)"#,
        ),
        (
            json!({"type": "array", "item": "u8"}),
            r#"missing "len" (the array's length)"#,
        ),
        (
            json!({"name": "S"}),
            r#"missing "type" (the type's kind)"#,
        ),
        (
            json!({"type": "struct", "name": "S", "fields": {"a": {"type": "map", "key": "u8", "value": "str"}}}),
            r#"fields.a.value: unknown type "str""#,
        ),
        (
            json!({"type": "struct", "name": "S", "fields": [{"name": "a", "type": "u8"}, {"name": "a", "type": "u8"}]}),
            "fields[1]: duplicate field name a",
        ),
        (
            json!({"type": "struct", "name": "S", "fields": ["u8"]}),
            r#"fields[0]: expected a {"name", "type"} object, got "u8""#,
        ),
        (
            json!({"type": "tuple_struct", "name": "T", "fields": {"a": "u8"}}),
            r#"fields: expected an array, got {"a":"u8"}"#,
        ),
        (
            json!({"type": "enum", "name": "E", "variants": [{"name": "A"}, {"name": "A"}]}),
            "variants[1]: duplicate variant name A",
        ),
        (
            json!({"type": "enum", "name": "E", "variants": [{"name": "A", "kind": "newtype"}]}),
            r#"variants[0]: missing "inner" (a type)"#,
        ),
        (
            json!({"type": "enum", "name": "E", "variants": [{"name": "A", "kind": "unit", "inner": "u8"}]}),
            r#"variants[0].inner: a unit variant has no "inner""#,
        ),
        (
            json!({"type": "enum", "name": "E", "variants": [{"name": "A", "inner": "u8", "items": []}]}),
            r#"variants[0]: a variant has at most one of "inner", "items" and "fields""#,
        ),
        (
            json!({"type": "enum", "name": "E", "variants": [{"name": "A", "kind": "record"}]}),
            r#"variants[0].kind: unknown variant kind "record" (expected unit, newtype, tuple or struct)"#,
        ),
        (
            json!({"type": "enum", "name": "E", "variants": ["A"]}),
            r#"variants[0]: expected a variant: {"name", "kind", ...}, got "A""#,
        ),
        (
            json!({"type": "handle", "interface": null, "extra": 1}),
            "extra: unknown member (expected type, interface)",
        ),
    ];
    for (json, expected) in cases {
        assert_eq!(says_of_type(json), expected);
    }
}

/// `levels` levels of `Option` around `u8`, the outer `objects` of them as JSON objects
/// and the rest in the notation.
fn nested_options(levels: usize, objects: usize) -> Value {
    let notation = format!(
        "{}u8{}",
        "Option<".repeat(levels - 1 - objects),
        ">".repeat(levels - 1 - objects)
    );
    let mut ty = json!(notation);
    for _ in 0..objects {
        ty = json!({"type": "option", "some": ty});
    }
    ty
}

#[test]
fn nesting_is_bounded_across_objects_and_notation() {
    for objects in [0, 1, MAX_DEPTH / 2, MAX_DEPTH - 1] {
        let deepest = nested_options(MAX_DEPTH, objects);
        let manifest = read(one(json!({"name": "p", "params": {"a": deepest}})));
        assert_eq!(Manifest::parse(&manifest.to_bytes()), Ok(manifest));
        let too_deep = nested_options(MAX_DEPTH + 1, objects);
        let error = says(one(json!({"name": "p", "params": {"a": too_deep}})));
        assert!(
            error.contains("types nested deeper than 32 levels"),
            "{error}"
        );
    }
    let path = says(one(
        json!({"name": "p", "output": nested_options(MAX_DEPTH + 1, MAX_DEPTH)}),
    ));
    assert_eq!(
        path,
        format!(
            "procedures[0].output{}: types nested deeper than 32 levels",
            ".some".repeat(MAX_DEPTH)
        )
    );
    // JSON deeper than serde_json's parser would build (128) is refused at the limit too.
    // (Not deeper still: dropping a `Value` recurses, so the test itself would overflow.)
    // (Built with `object`: `json!` would copy the inner value through `Serialize`.)
    let mut deep = json!("u8");
    for _ in 0..1_000 {
        deep = object([("type", json!("option")), ("some", deep)]);
    }
    assert!(Type::from_json(&deep)
        .unwrap_err()
        .to_string()
        .ends_with("types nested deeper than 32 levels"));
    let mut deep = json!("u8");
    for _ in 0..1_000 {
        let fields = object([("f", deep)]);
        deep = object([
            ("type", json!("struct")),
            ("name", json!("S")),
            ("fields", fields),
        ]);
    }
    assert!(Type::from_json(&deep).is_err());
}

/// A JSON object of `entries`, moved in.
fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// The shortest declaration of a manifest: parameters and fields as objects, types in
/// the notation where it reads them back, no kind and no output when they are the
/// defaults, items only where they flow. Ids are kept, since those of the strategies are
/// not the defaults.
fn declaration(manifest: &Manifest) -> Value {
    fn ty(t: &Type) -> Value {
        if Type::parse(&t.to_string()).as_ref() == Ok(t) {
            return json!(t.to_string());
        }
        match t {
            Type::Option(inner) => json!({"type": "option", "some": ty(inner)}),
            Type::Seq { max, item } => json!({"type": "seq", "max": max, "item": ty(item)}),
            Type::Map { max, key, value } => {
                json!({"type": "map", "max": max, "key": ty(key), "value": ty(value)})
            }
            Type::Tuple(items) => json!({"type": "tuple", "items": types(items)}),
            Type::Array { len, item } => json!({"type": "array", "len": len, "item": ty(item)}),
            Type::Struct { name, fields: f } => {
                json!({"type": "struct", "name": name, "fields": fields(f)})
            }
            Type::TupleStruct { name, fields } => {
                json!({"type": "tuple_struct", "name": name, "fields": types(fields)})
            }
            Type::UnitStruct { name } => json!({"type": "unit_struct", "name": name}),
            Type::NewtypeStruct { name, inner } => {
                json!({"type": "newtype_struct", "name": name, "inner": ty(inner)})
            }
            Type::Enum { name, variants } => {
                let variants: Vec<Value> = variants
                    .iter()
                    .map(|v| match &v.kind {
                        VariantKind::Unit => json!({"name": v.name}),
                        VariantKind::Newtype(inner) => json!({"name": v.name, "inner": ty(inner)}),
                        VariantKind::Tuple(items) => json!({"name": v.name, "items": types(items)}),
                        VariantKind::Struct(f) => json!({"name": v.name, "fields": fields(f)}),
                    })
                    .collect();
                json!({"type": "enum", "name": name, "variants": variants})
            }
            other => panic!("{other} reads from its notation"),
        }
    }
    fn types(items: &[Type]) -> Vec<Value> {
        items.iter().map(ty).collect()
    }
    fn fields(fields: &[Field]) -> Value {
        let map: Map<String, Value> = fields.iter().map(|f| (f.name.clone(), ty(&f.ty))).collect();
        Value::Object(map)
    }
    fn procedures(procedures: &[wirecall_schema::Procedure]) -> Vec<Value> {
        procedures
            .iter()
            .map(|p| {
                let mut out = json!({"id": p.id, "name": p.name, "params": fields(&p.params)});
                if p.output != Type::Unit {
                    out["output"] = ty(&p.output);
                }
                if let Some(item) = p.item() {
                    out["item"] = ty(item);
                }
                if let Some(in_item) = p.in_item() {
                    out["in_item"] = ty(in_item);
                }
                out
            })
            .collect()
    }
    let interfaces: Vec<Value> = manifest
        .interfaces
        .iter()
        .map(|i| json!({"name": i.name, "methods": procedures(&i.methods)}))
        .collect();
    json!({
        "service": manifest.service,
        "procedures": procedures(&manifest.procedures),
        "interfaces": interfaces,
    })
}

#[test]
fn the_demo_manifests_read_back_from_their_shortest_declaration() {
    for manifest in [common::demo_manifest(), common::handles_manifest()] {
        assert_eq!(Manifest::from_json(&declaration(&manifest)), Ok(manifest));
    }
    let add = &declaration(&common::demo_manifest())["procedures"][0];
    assert_eq!(
        add,
        &json!({"id": 0, "name": "add", "params": {"a": "i32", "b": "i32"}, "output": "i32"})
    );
}

/// Any JSON, with the keys and strings a manifest uses more often than chance would.
fn arb_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "service",
            "procedures",
            "interfaces",
            "format",
            "name",
            "id",
            "kind",
            "params",
            "output",
            "item",
            "in_item",
            "type",
            "fields",
            "variants",
            "inner",
            "items",
            "some",
            "max",
            "len",
            "key",
            "value",
            "interface",
            "methods",
            "signature",
        ])
        .prop_map(str::to_owned),
        "[a-z]{1,3}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u32>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            "u8",
            "i33",
            "Vec<u8, 3>",
            "handle I",
            "handle",
            "struct",
            "enum",
            "option",
            "seq",
            "call",
            "server stream",
            "bidi stream",
            "unit",
            "newtype",
            "tuple",
            "Info",
            "",
        ])
        .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 96, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn random_manifests_read_back_from_their_json_form(manifest in common::arb_manifest()) {
        let form = serde_json::to_value(&manifest).unwrap();
        prop_assert_eq!(Manifest::from_json(&form), Ok(manifest.clone()));
        prop_assert_eq!(Manifest::from_json(&declaration(&manifest)), Ok(manifest));
    }

    #[test]
    fn random_manifests_with_handles_read_back_from_their_json_form(
        manifest in common::arb_handles_manifest(),
    ) {
        let form = serde_json::to_value(&manifest).unwrap();
        prop_assert_eq!(Manifest::from_json(&form), Ok(manifest.clone()));
        prop_assert_eq!(Manifest::from_json(&declaration(&manifest)), Ok(manifest));
    }

    #[test]
    fn random_types_read_back_from_their_json_form(ty in common::arb_type()) {
        let form = serde_json::to_value(&ty).unwrap();
        prop_assert_eq!(Type::from_json(&form), Ok(ty));
    }

    #[test]
    fn any_json_reads_or_fails_without_panicking(
        json in arb_json(),
        procedures in prop::collection::vec(arb_json(), 0..3),
    ) {
        // Both at the top, and as procedures, where more of the reader is reached.
        for json in [json.clone(), json!({"service": "s", "procedures": [json]}),
                     json!({"service": "s", "procedures": procedures})] {
            if let Ok(manifest) = Manifest::from_json(&json) {
                let form = serde_json::to_value(&manifest).unwrap();
                prop_assert_eq!(Manifest::from_json(&form), Ok(manifest));
            }
        }
        if let Ok(ty) = Type::from_json(&json) {
            prop_assert_eq!(Type::from_json(&serde_json::to_value(&ty).unwrap()), Ok(ty));
        }
    }
}
