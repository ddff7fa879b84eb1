//! `wirecall list --nats URL [DEVICE]`: the devices that gateways serve on a NATS bus,
//! found by services discovery, each printed as `wirecall list` prints a device: a line
//! about it, then its procedures' numbers and signatures (from the endpoints' metadata).

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::service::Info;
use wirecall_adapters::host::{json_printable, printable};

use super::{block_on, check_token, connect, discover, SERVICE_PREFIX};
use crate::failure::{fail, Exit};

const COMMAND: &str = "wirecall list";

/// One device as some gateways serve it: those that agree on all of it are one `Served`.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Served {
    device: String,
    service: String,
    schema: String,
    procedures: Vec<Endpoint>,
}

/// One procedure's endpoint, as its metadata describes it.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Endpoint {
    /// The procedure's number on the device (sorted by it, as `wirecall list` prints).
    id: Option<u32>,
    name: String,
    subject: String,
    signature: String,
    mode: String,
}

impl Served {
    fn of(info: &Info) -> Served {
        let meta = |key: &str| info.metadata.get(key).cloned().unwrap_or_default();
        let mut procedures: Vec<Endpoint> = info
            .endpoints
            .iter()
            .map(|e| {
                let meta = |key: &str| e.metadata.get(key).cloned();
                Endpoint {
                    id: meta("procedure_id").and_then(|id| id.parse().ok()),
                    name: e.name.clone(),
                    subject: e.subject.clone(),
                    signature: meta("signature").unwrap_or_else(|| format!("{}(?)", e.name)),
                    mode: meta("mode").unwrap_or_default(),
                }
            })
            .collect();
        procedures.sort();
        Served {
            device: info
                .name
                .strip_prefix(SERVICE_PREFIX)
                .unwrap_or(&info.name)
                .to_string(),
            service: meta("wirecall_service"),
            schema: meta("schema_hash"),
            procedures,
        }
    }
}

pub(crate) fn run(url: &str, device: Option<&str>, timeout: Duration, json: bool) -> i32 {
    if let Some(id) = device {
        if let Err(e) = check_token("device id", id) {
            return fail(COMMAND, Exit::Usage, e);
        }
    }
    block_on(COMMAND, async {
        let client = match connect(COMMAND, url, timeout).await {
            Ok(c) => c,
            Err(code) => return code,
        };
        let infos = match discover::wirecall_services(&client, device, timeout).await {
            Ok(i) => i,
            Err(e) => return fail(COMMAND, Exit::Link, e),
        };
        // Gateways that serve a device alike are counted together; any that differ (one
        // still serving a device's old schema) are shown apart.
        let mut served: BTreeMap<Served, usize> = BTreeMap::new();
        for info in &infos {
            *served.entry(Served::of(info)).or_default() += 1;
        }
        if served.is_empty() {
            return match device {
                Some(id) => fail(
                    COMMAND,
                    Exit::Link,
                    format!(
                        "no gateway serves device {id} on NATS at {url} (no service \
                         {SERVICE_PREFIX}{id} answered $SRV.INFO)\n  hint: `wirecall list \
                         --nats {url}` lists the devices that are served"
                    ),
                ),
                None => {
                    eprintln!("{COMMAND}: no wirecall devices are served on NATS at {url}");
                    0
                }
            };
        }
        if json {
            print_json(&served);
        } else {
            print_text(&served);
        }
        0
    })
}

/// `device demo: demo (schema 0x1BDF1C4B, 6 procedures, 1 gateway)`, then a line per
/// procedure as `wirecall list` prints them; a blank line between devices.
fn print_text(served: &BTreeMap<Served, usize>) {
    let mut devices = served.keys().map(|s| &s.device).collect::<Vec<_>>();
    devices.dedup();
    for (n, (s, gateways)) in served.iter().enumerate() {
        if n > 0 {
            println!();
        }
        let procedures = match s.procedures.len() {
            1 => "1 procedure".to_string(),
            n => format!("{n} procedures"),
        };
        let gateways = match gateways {
            1 => "1 gateway".to_string(),
            n => format!("{n} gateways"),
        };
        // Everything here came over the bus: escaped for the terminal.
        println!(
            "device {}: {} (schema {}, {procedures}, {gateways})",
            printable(&s.device),
            printable(&s.service),
            printable(&s.schema)
        );
        for p in &s.procedures {
            let id = p.id.map_or_else(|| "?".to_string(), |id| id.to_string());
            println!("  {id:>3}  {}", printable(&p.signature));
        }
    }
    if devices.len() < served.len() {
        eprintln!(
            "{COMMAND}: gateways disagree about a device (above more than once): one may \
             serve an older schema; restart it"
        );
    }
}

/// A JSON array: each device as its gateways serve it, with its endpoints.
fn print_json(served: &BTreeMap<Served, usize>) {
    let all: Vec<serde_json::Value> = served
        .iter()
        .map(|(s, gateways)| {
            serde_json::json!({
                "device": s.device,
                "service": s.service,
                "schema": s.schema,
                "gateways": gateways,
                "procedures": s.procedures.iter().map(|p| serde_json::json!({
                    "procedure_id": p.id,
                    "name": p.name,
                    "subject": p.subject,
                    "signature": p.signature,
                    "mode": p.mode,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let text = serde_json::to_string_pretty(&all).unwrap_or_default();
    println!("{}", json_printable(&text));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn info(name: &str, schema: &str, endpoints: &[(&str, &str, &str)]) -> Info {
        serde_json::from_value(serde_json::json!({
            "type": "io.nats.micro.v1.info_response",
            "name": name,
            "id": "x",
            "description": "",
            "version": "0.1.0",
            "metadata": {"schema_hash": schema, "wirecall_service": "demo"},
            "endpoints": endpoints.iter().map(|(n, id, sig)| serde_json::json!({
                "name": n,
                "subject": format!("wirecall.demo.{n}"),
                "queue_group": "q",
                "metadata": {"procedure_id": id, "signature": sig},
            })).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    #[test]
    fn a_service_reads_as_a_device_sorted_by_procedure_number() {
        let s = Served::of(&info(
            "wirecall-demo",
            "0x1BDF1C4B",
            &[
                ("sleep", "4", "sleep(ms: u32)"),
                ("add", "0", "add(a: i32, b: i32) -> i32"),
                ("echo", "1", "echo(data: bytes<200>) -> bytes<200>"),
            ],
        ));
        assert_eq!(s.device, "demo");
        assert_eq!(s.service, "demo");
        assert_eq!(s.schema, "0x1BDF1C4B");
        let names: Vec<&str> = s.procedures.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["add", "echo", "sleep"]);
    }

    #[test]
    fn gateways_that_serve_a_device_alike_count_together() {
        let a = info("wirecall-demo", "0x1", &[("add", "0", "add()")]);
        let old = info("wirecall-demo", "0x2", &[("add", "0", "add()")]);
        let mut served: BTreeMap<Served, usize> = BTreeMap::new();
        for i in [&a, &a, &old] {
            *served.entry(Served::of(i)).or_default() += 1;
        }
        let counts: Vec<(&str, usize)> = served
            .iter()
            .map(|(s, n)| (s.schema.as_str(), *n))
            .collect();
        assert_eq!(counts, [("0x1", 2), ("0x2", 1)]);
    }
}
