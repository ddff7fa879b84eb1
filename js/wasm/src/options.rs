//! The options object of `new Engine(now, options)`, read and checked into a core `Config`.

use std::cell::RefCell;

use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wirecall::{Config, Duration};

use crate::engine::{MAX_CALLS, MAX_FRAME};
use crate::errors::usage;

/// Every option name, so that a misspelt one is an error instead of a silent default.
const NAMES: [&str; 10] = [
    "maxFrame",
    "maxCalls",
    "keepaliveMs",
    "callTimeoutMs",
    "frameTimeoutMs",
    "streamWindow",
    "schema",
    "manifest",
    "expectSchema",
    "handles",
];

/// What the options say; `None` keeps the core's default.
#[derive(Default)]
pub(crate) struct Options {
    max_frame: Option<f64>,
    max_calls: Option<f64>,
    keepalive_ms: Option<f64>,
    call_timeout_ms: Option<f64>,
    frame_timeout_ms: Option<f64>,
    stream_window: Option<f64>,
    schema: Option<f64>,
    manifest: Option<&'static [u8]>,
    expect_schema: Option<f64>,
    handles: bool,
}

thread_local! {
    /// The manifests engines serve. The core serves a `&'static` manifest (firmware keeps
    /// it in flash); here each distinct one is leaked once and shared by every engine that
    /// serves it, so a server making an engine per connection does not leak per connection.
    static MANIFESTS: RefCell<Vec<&'static [u8]>> = const { RefCell::new(Vec::new()) };
}

fn interned(bytes: Vec<u8>) -> &'static [u8] {
    MANIFESTS.with(|m| {
        let mut m = m.borrow_mut();
        if let Some(known) = m.iter().find(|k| **k == bytes.as_slice()) {
            return *known;
        }
        let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        m.push(leaked);
        leaked
    })
}

fn number(options: &JsValue, name: &str, min: f64, max: f64) -> Result<Option<f64>, JsValue> {
    let v = Reflect::get(options, &name.into()).unwrap_or(JsValue::UNDEFINED);
    if v.is_undefined() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.fract() == 0.0 && (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(usage(&format!(
            "option {name} must be a whole number from {min} to {max}"
        ))),
    }
}

impl Options {
    /// Reads `options` (an object, or `undefined` for the defaults).
    pub(crate) fn read(options: &JsValue) -> Result<Options, JsValue> {
        if options.is_undefined() || options.is_null() {
            return Ok(Options::default());
        }
        if !options.is_object() {
            return Err(usage("the options must be an object"));
        }
        for key in Object::keys(options.unchecked_ref::<Object>()).iter() {
            let key = key.as_string().unwrap_or_default();
            if !NAMES.contains(&key.as_str()) {
                return Err(usage(&format!(
                    "unknown option {key:?} (the options are {})",
                    NAMES.join(", ")
                )));
            }
        }
        const DAY_MS: f64 = 86_400_000.0;
        let manifest = Reflect::get(options, &"manifest".into()).unwrap_or(JsValue::UNDEFINED);
        let manifest = match manifest.dyn_ref::<Uint8Array>() {
            Some(bytes) => Some(interned(bytes.to_vec())),
            None if manifest.is_undefined() => None,
            None => return Err(usage("option manifest must be a Uint8Array")),
        };
        let handles = Reflect::get(options, &"handles".into()).unwrap_or(JsValue::UNDEFINED);
        Ok(Options {
            max_frame: number(
                options,
                "maxFrame",
                wirecall::MIN_MAX_FRAME as f64,
                MAX_FRAME as f64,
            )?,
            max_calls: number(options, "maxCalls", 1.0, MAX_CALLS as f64)?,
            keepalive_ms: number(options, "keepaliveMs", 1.0, DAY_MS)?,
            call_timeout_ms: number(options, "callTimeoutMs", 1.0, DAY_MS)?,
            frame_timeout_ms: number(options, "frameTimeoutMs", 1.0, DAY_MS)?,
            stream_window: number(options, "streamWindow", 1.0, 65_535.0)?,
            schema: number(options, "schema", 0.0, f64::from(u32::MAX))?,
            manifest,
            expect_schema: number(options, "expectSchema", 0.0, f64::from(u32::MAX))?,
            handles: handles.as_bool().unwrap_or(false),
        })
    }

    /// The core's configuration: its defaults, with what the options set.
    pub(crate) fn config(&self) -> Config {
        let ms = |n: f64| Duration::from_millis(n as u64);
        let frame = self.max_frame.unwrap_or(MAX_FRAME as f64) as u32;
        let calls = self.max_calls.unwrap_or(MAX_CALLS as f64) as u32;
        let mut c = Config::default()
            .with_max_frame(frame)
            .with_max_inbound(calls)
            .with_max_outbound(calls);
        if let Some(n) = self.keepalive_ms {
            c = c.with_keepalive(ms(n));
        }
        if let Some(n) = self.call_timeout_ms {
            c = c.with_call_timeout(ms(n));
        }
        if let Some(n) = self.frame_timeout_ms {
            c = c.with_frame_timeout(ms(n));
        }
        if let Some(n) = self.stream_window {
            c = c.with_stream_window(n as u32);
        }
        if let Some(n) = self.schema {
            c = c.with_schema(n as u32);
        }
        if let Some(m) = self.manifest {
            c = c.with_manifest(m);
        }
        if let Some(n) = self.expect_schema {
            c = c.expecting_schema(n as u32);
        }
        if self.handles {
            c = c.with_handles();
        }
        c
    }
}
