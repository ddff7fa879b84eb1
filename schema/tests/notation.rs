//! Signatures, type definitions and the JSON form of a manifest, for `wirecall list`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use serde_json::json;
use wirecall_schema::{definition, named_types, signature, Type};

#[test]
fn signatures_of_every_mode() {
    let manifest = common::demo_manifest();
    let signatures: Vec<String> = manifest.procedures.iter().map(signature).collect();
    assert_eq!(
        signatures,
        [
            "add(a: i32, b: i32) -> i32",
            "echo(data: Vec<u8, 200>) -> Vec<u8, 200>",
            "info() -> Info",
            "set(mode: Mode)",
            "configure(config: Config) -> bool",
            "count(n: u32) -> stream u32",
            "sum(stream u32) -> u64",
            "chat(room: String<32>, stream String) -> stream String",
        ]
    );
}

#[test]
fn type_notation() {
    let cases = [
        (Type::Unit, "()"),
        (Type::string(0), "String"),
        (Type::string(16), "String<16>"),
        (Type::option(Type::Char), "Option<char>"),
        (Type::seq(0, Type::I64), "Vec<i64>"),
        (Type::map(0, Type::string(0), Type::U8), "Map<String, u8>"),
        (
            Type::map(4, Type::U8, Type::option(Type::F32)),
            "Map<u8, Option<f32>, 4>",
        ),
        (Type::Tuple(vec![Type::U8]), "(u8,)"),
        (Type::Tuple(vec![Type::U8, Type::Bool]), "(u8, bool)"),
        (Type::array(4, Type::U128), "[u128; 4]"),
        (common::info_struct(), "Info"),
    ];
    for (ty, text) in cases {
        assert_eq!(ty.to_string(), text);
    }
}

#[test]
fn definitions_of_named_types() {
    assert_eq!(
        definition(&common::info_struct()).unwrap(),
        "struct Info { version: u32, name: String<16> }"
    );
    assert_eq!(
        definition(&common::mode_enum()).unwrap(),
        "enum Mode { Off, On, Blink { hz: u8 } }"
    );
    assert_eq!(definition(&Type::U8), None);
    let manifest = common::demo_manifest();
    let defs: Vec<String> = named_types(&manifest)
        .into_iter()
        .filter_map(definition)
        .collect();
    assert_eq!(
        defs,
        [
            "struct Info { version: u32, name: String<16> }",
            "enum Mode { Off, On, Blink { hz: u8 } }",
            "struct Config { limits: Map<String<8>, Option<u64>, 4>, point: Point, ping: Ping, meters: Meters, \
             shape: Shape, all: ((), bool, u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64, char, String) }",
            "struct Point(i32, i32)",
            "struct Ping",
            "struct Meters(u32)",
            "enum Shape { Empty, Circle(f32), Rect(u16, u16), Poly { points: Vec<[i32; 2], 8> } }",
        ]
    );
}

#[test]
fn json_form_of_a_manifest() {
    let manifest = common::demo_manifest();
    let form = serde_json::to_value(&manifest).unwrap();
    assert_eq!(form["format"], 1);
    assert_eq!(form["service"], "demo");
    assert_eq!(
        form["procedures"][0],
        json!({
            "id": 0, "name": "add", "kind": "call", "signature": "add(a: i32, b: i32) -> i32",
            "params": [{"name": "a", "type": {"type": "i32"}}, {"name": "b", "type": {"type": "i32"}}],
            "output": {"type": "i32"}, "item": null, "in_item": null,
        })
    );
    assert_eq!(
        form["procedures"][1]["output"],
        json!({"type": "seq", "max": 200, "item": {"type": "u8"}})
    );
    assert_eq!(
        form["procedures"][3]["params"][0]["type"],
        json!({"type": "enum", "name": "Mode", "variants": [
            {"name": "Off", "kind": "unit"},
            {"name": "On", "kind": "unit"},
            {"name": "Blink", "kind": "struct", "fields": [{"name": "hz", "type": {"type": "u8"}}]},
        ]})
    );
    let kinds: Vec<&str> = form["procedures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "call",
            "call",
            "call",
            "call",
            "call",
            "server stream",
            "client stream",
            "bidi stream"
        ]
    );
    assert_eq!(form["procedures"][5]["item"], json!({"type": "u32"}));
    assert_eq!(form["procedures"][6]["in_item"], json!({"type": "u32"}));
    let config = &form["procedures"][4]["params"][0]["type"]["fields"];
    assert_eq!(
        config[0]["type"],
        json!({"type": "map", "max": 4, "key": {"type": "string", "max": 8}, "value": {"type": "option", "some": {"type": "u64"}}})
    );
    assert_eq!(
        config[1]["type"],
        json!({"type": "tuple_struct", "name": "Point", "fields": [{"type": "i32"}, {"type": "i32"}]})
    );
    assert_eq!(
        config[2]["type"],
        json!({"type": "unit_struct", "name": "Ping"})
    );
    assert_eq!(
        config[3]["type"],
        json!({"type": "newtype_struct", "name": "Meters", "inner": {"type": "u32"}})
    );
    assert_eq!(
        config[4]["type"]["variants"][1],
        json!({"name": "Circle", "kind": "newtype", "inner": {"type": "f32"}})
    );
    assert_eq!(
        config[4]["type"]["variants"][2]["items"],
        json!([{"type": "u16"}, {"type": "u16"}])
    );
    assert_eq!(config[5]["type"]["items"][15], json!({"type": "string"}));
}

#[test]
fn handles_and_interfaces() {
    let manifest = common::handles_manifest();
    let open = manifest.procedure("open").unwrap();
    assert_eq!(signature(open), "open(name: String<16>) -> handle Channel");
    assert_eq!(
        signature(manifest.procedure("any").unwrap()),
        "any() -> Option<handle>"
    );
    assert_eq!(Type::handle("Log").to_string(), "handle Log");
    let channel = manifest.returned_interface(open).unwrap();
    let methods: Vec<String> = channel.methods.iter().map(signature).collect();
    assert_eq!(
        methods,
        [
            "read() -> i32",
            "configure(scale: i32) -> i32",
            "info() -> Info",
            "watch() -> stream i32"
        ]
    );
    assert_eq!(definition(&Type::handle("Channel")), None);

    // A named type used only by a method is defined too, after the procedures' types.
    let mut manifest = common::handles_manifest();
    manifest.interfaces[1].methods[0].output = Type::UnitStruct {
        name: "Done".into(),
    };
    let defs: Vec<String> = named_types(&manifest)
        .into_iter()
        .filter_map(definition)
        .collect();
    assert_eq!(defs.last().map(String::as_str), Some("struct Done"));
    assert_eq!(
        defs.iter().filter(|d| d.starts_with("struct Info")).count(),
        1
    );
}

#[test]
fn json_form_of_a_manifest_with_interfaces() {
    let manifest = common::handles_manifest();
    let form = serde_json::to_value(&manifest).unwrap();
    assert_eq!(form["format"], 2);
    assert_eq!(
        form["procedures"][8]["output"],
        json!({"type": "handle", "interface": "Channel"})
    );
    assert_eq!(
        form["procedures"][8]["signature"],
        "open(name: String<16>) -> handle Channel"
    );
    assert_eq!(
        form["procedures"][9]["output"]["some"],
        json!({"type": "handle", "interface": ""})
    );
    let interfaces = form["interfaces"].as_array().unwrap();
    let names: Vec<&str> = interfaces
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Channel", "Log"]);
    assert_eq!(
        interfaces[0]["methods"][1],
        json!({
            "id": 1, "name": "configure", "kind": "call",
            "signature": "configure(scale: i32) -> i32",
            "params": [{"name": "scale", "type": {"type": "i32"}}],
            "output": {"type": "i32"}, "item": null, "in_item": null,
        })
    );
    // Without interfaces: format 1, and an empty list.
    let form = serde_json::to_value(common::demo_manifest()).unwrap();
    assert_eq!(
        (&form["format"], &form["interfaces"]),
        (&json!(1), &json!([]))
    );
}
