//! [`Schema`]: a service's manifest, and the codec that turns JavaScript values into the
//! payloads its procedures take and back (the `wirecall-schema` crate, as the command line
//! and the Rust dynamic clients use it).

use wasm_bindgen::prelude::*;
use wirecall_schema::{Manifest, Procedure};

use crate::errors::coded;
use crate::value::{from_json, to_json};

/// A parsed manifest: what a device serves, and how to encode and decode its payloads.
#[wasm_bindgen]
pub struct Schema {
    manifest: Manifest,
    bytes: Vec<u8>,
}

/// Which payload of a procedure.
#[derive(Clone, Copy)]
enum Part {
    Args,
    Output,
    Item,
    InItem,
}

fn part(name: &str) -> Result<Part, JsValue> {
    Ok(match name {
        "args" => Part::Args,
        "output" => Part::Output,
        "item" => Part::Item,
        "in_item" => Part::InItem,
        other => return Err(crate::errors::usage(&format!("no payload {other:?}"))),
    })
}

#[wasm_bindgen]
impl Schema {
    /// Parses manifest bytes (as a device sends them). Throws with code `BadManifest`.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8]) -> Result<Schema, JsValue> {
        let manifest = Manifest::parse(bytes).map_err(|e| coded("BadManifest", &e.to_string()))?;
        Ok(Schema {
            manifest,
            bytes: bytes.to_vec(),
        })
    }

    /// Declares a service: its manifest from a description in the JSON form (as
    /// `describe()` gives, with types also as notation strings such as `"Vec<u8, 16>"`,
    /// parameters as an object of name to type, ids and kinds optional; see the
    /// `wirecall-schema` crate's "Declaring a service"). Throws with code `BadManifest` and
    /// the path of what is wrong (`procedures[1].params.b: unknown type "i33"`).
    pub fn declare(description: JsValue) -> Result<Schema, JsValue> {
        let json = to_json(&description).map_err(|e| coded("BadManifest", &e))?;
        let manifest =
            Manifest::from_json(&json).map_err(|e| coded("BadManifest", &e.to_string()))?;
        let bytes = manifest.to_bytes();
        Ok(Schema { manifest, bytes })
    }

    /// The manifest's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// The schema hash the handshake compares (as `manifest_hash` in Rust).
    #[wasm_bindgen(getter)]
    pub fn hash(&self) -> u32 {
        wirecall::manifest_hash(&self.bytes)
    }

    /// The service's name.
    #[wasm_bindgen(getter)]
    pub fn service(&self) -> String {
        self.manifest.service.clone()
    }

    /// The manifest's JSON form (as `wirecall list --json` prints it): procedures with ids,
    /// names, kinds, signatures, parameters and types; interfaces with their methods.
    pub fn describe(&self) -> Result<JsValue, JsValue> {
        let json = serde_json::to_value(&self.manifest)
            .map_err(|e| coded("BadManifest", &e.to_string()))?;
        Ok(from_json(&json))
    }

    /// Encodes `value` as payload `what` (`args`, `output`, `item`, `in_item`) of the
    /// procedure `name` (`Interface.method` for a method). Arguments are an array (by
    /// position), an object (by name), or the bare value of a one-parameter procedure.
    /// Throws with code `Encode` and the codec's message (`add: expected i32 at b, got
    /// "x"`), or `UnknownProcedure`.
    pub fn encode(&self, what: &str, name: &str, value: JsValue) -> Result<Vec<u8>, JsValue> {
        let proc = self.procedure(name)?;
        let json = to_json(&value).map_err(|e| coded("Encode", &format!("{name}: {e}")))?;
        let encoded = match part(what)? {
            Part::Args => wirecall_schema::encode_args(proc, &json),
            Part::Output => wirecall_schema::encode_output(proc, &json),
            Part::Item => wirecall_schema::encode_item(proc, &json),
            Part::InItem => wirecall_schema::encode_in_item(proc, &json),
        };
        encoded.map_err(|e| coded("Encode", &e.to_string()))
    }

    /// Decodes payload `what` of procedure `name`; arguments decode to an object by
    /// parameter name. Throws with code `Decode`.
    pub fn decode(&self, what: &str, name: &str, bytes: &[u8]) -> Result<JsValue, JsValue> {
        let proc = self.procedure(name)?;
        let decoded = match part(what)? {
            Part::Args => wirecall_schema::decode_args(proc, bytes),
            Part::Output => wirecall_schema::decode_output(proc, bytes),
            Part::Item => wirecall_schema::decode_item(proc, bytes),
            Part::InItem => wirecall_schema::decode_in_item(proc, bytes),
        };
        decoded
            .map(|v| from_json(&v))
            .map_err(|e| coded("Decode", &e.to_string()))
    }
}

impl Schema {
    fn procedure(&self, name: &str) -> Result<&Procedure, JsValue> {
        let found = match name.split_once('.') {
            Some((interface, method)) => self
                .manifest
                .interface(interface)
                .and_then(|i| i.method(method)),
            None => self.manifest.procedure(name),
        };
        found.ok_or_else(|| {
            coded(
                "UnknownProcedure",
                &format!("{} has no procedure {name}", self.manifest.service),
            )
        })
    }
}

/// The schema hash of manifest bytes (FNV-1a 32, as the core computes it).
#[wasm_bindgen(js_name = manifestHash)]
pub fn manifest_hash(bytes: &[u8]) -> u32 {
    wirecall::manifest_hash(bytes)
}
