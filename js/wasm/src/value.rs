//! JavaScript values to and from the JSON model of the manifest codec.
//!
//! Hand-written rather than through `serde-wasm-bindgen`, because the codec's conventions
//! need a per-value choice that crate's all-or-nothing `BigInt` switch cannot make:
//! integers print as numbers while a JavaScript number holds them exactly (|n| <= 2^53 - 1)
//! and as `BigInt`s beyond, so no value loses digits and the common case stays a number.
//! The walk is bounded: JSON from the codec nests at most `MAX_DEPTH` levels, and input
//! deeper than [`MAX_INPUT_DEPTH`] (or cyclic) is refused instead of overflowing the stack.

use js_sys::{Array, BigInt, Object, Reflect, Uint8Array};
use serde_json::{Map, Number, Value};
use wasm_bindgen::{JsCast, JsValue};

/// The largest integer a JavaScript number holds exactly.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// Deeper JavaScript input is refused (the codec accepts at most 32 levels of types, so
/// anything deeper could never encode anyway).
pub(crate) const MAX_INPUT_DEPTH: usize = 64;

/// Converts a JavaScript value to JSON: numbers, strings, booleans, `null`/`undefined`,
/// arrays, `Uint8Array`s (as arrays of bytes), `BigInt`s (exact, as numbers within 64 bits
/// and as decimal strings beyond, which the codec reads for 128-bit integers) and plain
/// objects (own enumerable string keys, in order). `Map`s become objects or pairs as JSON
/// does not have them: their entries are read as `[key, value]` pairs.
pub(crate) fn to_json(v: &JsValue) -> Result<Value, String> {
    to_json_at(v, 0)
}

fn to_json_at(v: &JsValue, depth: usize) -> Result<Value, String> {
    if depth > MAX_INPUT_DEPTH {
        return Err(format!(
            "the value nests deeper than {MAX_INPUT_DEPTH} levels (or refers to itself)"
        ));
    }
    if v.is_null() || v.is_undefined() {
        return Ok(Value::Null);
    }
    if let Some(b) = v.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = v.as_f64() {
        return Ok(number(n));
    }
    if let Some(s) = v.as_string() {
        return Ok(Value::String(s));
    }
    if v.is_bigint() {
        let text: String = BigInt::unchecked_from_js_ref(v)
            .to_string(10)
            .map_err(|_| "a BigInt that does not print".to_string())?
            .into();
        return Ok(match (text.parse::<i64>(), text.parse::<u64>()) {
            (Ok(i), _) => Value::Number(i.into()),
            (_, Ok(u)) => Value::Number(u.into()),
            _ => Value::String(text),
        });
    }
    if let Some(bytes) = v.dyn_ref::<Uint8Array>() {
        return Ok(Value::Array(
            bytes.to_vec().into_iter().map(Value::from).collect(),
        ));
    }
    if Array::is_array(v) {
        let items = Array::unchecked_from_js_ref(v);
        return items
            .iter()
            .map(|item| to_json_at(&item, depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if let Some(map) = v.dyn_ref::<js_sys::Map>() {
        let mut pairs = Vec::new();
        for entry in map.entries() {
            let entry = entry.map_err(|_| "a Map that cannot be iterated".to_string())?;
            pairs.push(to_json_at(&entry, depth + 1)?);
        }
        return Ok(Value::Array(pairs));
    }
    if v.is_object() {
        let mut out = Map::new();
        for entry in Object::entries(Object::unchecked_from_js_ref(v)).iter() {
            let pair: Array = entry.unchecked_into();
            let key = pair.get(0).as_string().unwrap_or_default();
            out.insert(key, to_json_at(&pair.get(1), depth + 1)?);
        }
        return Ok(Value::Object(out));
    }
    Err(format!(
        "a {} cannot be sent",
        v.js_typeof().as_string().unwrap_or_default()
    ))
}

/// A JavaScript number as JSON: an integer while it is one and exact, else a float; the
/// non-finite ones as the strings the codec reads for them.
fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE {
        // Exact: |n| < 2^53 fits i64 without rounding.
        return Value::Number((n as i64).into());
    }
    match Number::from_f64(n) {
        Some(x) => Value::Number(x),
        None if n.is_nan() => Value::String("NaN".into()),
        None if n > 0.0 => Value::String("inf".into()),
        None => Value::String("-inf".into()),
    }
}

/// Converts decoded JSON to a JavaScript value: integers within 2^53 as numbers, beyond as
/// `BigInt`s; objects as plain objects with their keys in order.
pub(crate) fn from_json(v: &Value) -> JsValue {
    match v {
        Value::Null => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                if (i as f64).abs() <= MAX_SAFE {
                    return JsValue::from_f64(i as f64);
                }
                return BigInt::from(i).into();
            }
            if let Some(u) = n.as_u64() {
                return BigInt::from(u).into();
            }
            JsValue::from_f64(n.as_f64().unwrap_or(f64::NAN))
        }
        Value::String(s) => JsValue::from_str(s),
        Value::Array(items) => items.iter().map(from_json).collect::<Array>().into(),
        Value::Object(map) => {
            let out = Object::new();
            for (k, v) in map {
                let key = JsValue::from_str(k);
                if k == "__proto__" {
                    // Assigning `__proto__` would set the object's prototype (a peer's map key
                    // must stay data): define it as an own property instead.
                    let field = Object::new();
                    let _ = Reflect::set(&field, &"value".into(), &from_json(v));
                    for flag in ["writable", "enumerable", "configurable"] {
                        let _ = Reflect::set(&field, &flag.into(), &JsValue::TRUE);
                    }
                    let _ = Reflect::define_property(&out, &key, &field);
                } else {
                    // Setting a property of a fresh plain object cannot fail.
                    let _ = Reflect::set(&out, &key, &from_json(v));
                }
            }
            out.into()
        }
    }
}
