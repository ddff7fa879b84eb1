//! `wirecall list`: what a device serves, as signatures or as JSON.

use crate::device::Device;
use crate::Target;
use wirecall_adapters::host::{json_printable, printable};

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
    println!(
        "{} (schema 0x{:08X}, {} procedures)",
        printable(&m.service),
        device.schema,
        m.procedures.len()
    );
    for p in &m.procedures {
        let signature = wirecall_schema::signature(p);
        println!("  {:>3}  {}", p.id, printable(&signature));
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
