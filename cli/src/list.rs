//! `wirecall list`: what a device serves, as signatures or as JSON: its procedures, then
//! each interface (the type of the objects its handles name) with its methods, then the
//! named types they use.

use crate::device::Device;
use crate::Target;
use wirecall_adapters::host::{json_printable, printable};
use wirecall_schema::Procedure;

/// Each procedure's number and signature, a line each.
fn print_procedures(procedures: &[Procedure]) {
    for p in procedures {
        let signature = wirecall_schema::signature(p);
        println!("  {:>3}  {}", p.id, printable(&signature));
    }
}

pub(crate) fn run(target: &Target, json: bool) -> i32 {
    let device = match Device::open(target, "wirecall list") {
        Ok(d) => d,
        Err(code) => return code,
    };
    let m = &device.manifest;
    if json {
        let value = serde_json::json!({
            "schema": format!("0x{:08X}", device.schema),
            "manifest": m,
        });
        // Names and descriptions are the device's text: escaped for the terminal.
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        println!("{}", json_printable(&text));
        return 0;
    }
    let interfaces = match m.interfaces.len() {
        0 => String::new(),
        1 => ", 1 interface".to_string(),
        n => format!(", {n} interfaces"),
    };
    println!(
        "{} (schema 0x{:08X}, {} procedures{interfaces})",
        printable(&m.service),
        device.schema,
        m.procedures.len()
    );
    print_procedures(&m.procedures);
    // Each interface with its methods: what `wirecall call ... then METHOD` calls on a
    // handle that a `-> handle NAME` procedure returns.
    for i in &m.interfaces {
        let count = match i.methods.len() {
            1 => "1 method".to_string(),
            n => format!("{n} methods"),
        };
        println!();
        println!("interface {} ({count})", printable(&i.name));
        print_procedures(&i.methods);
    }
    let types = wirecall_schema::named_types(m);
    if !types.is_empty() {
        println!();
        for t in types {
            if let Some(d) = wirecall_schema::definition(t) {
                for line in d.lines() {
                    println!("{}", printable(line));
                }
            }
        }
    }
    0
}
