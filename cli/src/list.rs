//! `wirecall list`: what a device serves, as signatures or as JSON.

use crate::device::Device;
use crate::Target;

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
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return 0;
    }
    println!(
        "{} (schema 0x{:08X}, {} procedures)",
        m.service,
        device.schema,
        m.procedures.len()
    );
    for p in &m.procedures {
        println!("  {:>3}  {}", p.id, wirecall_schema::signature(p));
    }
    let types = wirecall_schema::named_types(m);
    if !types.is_empty() {
        println!();
        for t in types {
            if let Some(d) = wirecall_schema::definition(t) {
                println!("{d}");
            }
        }
    }
    0
}
