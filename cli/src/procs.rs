//! The procedures the command knows by name, with JSON conversions built from their types.
//!
//! Until schema discovery lands, the command knows the demo service's types directly.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use wirecall::{Procedure, ProcedureInfo, StreamMode, StreamProcedure};
use wirecall_tests::demo::demo;

/// Encoded bytes to JSON.
type ToJson = fn(&[u8]) -> Result<Value, String>;

/// One callable procedure.
pub(crate) struct Proc {
    pub(crate) info: &'static ProcedureInfo,
    encode: fn(Value) -> Result<Vec<u8>, String>,
    decode: ToJson,
    /// A stream's server items to JSON (`None` for a plain call).
    item: Option<ToJson>,
}

impl Proc {
    /// The expected argument shape, for error messages.
    pub(crate) fn shape(&self) -> String {
        let names = self.param_names();
        let example = match names.len() {
            0 => "[]".to_string(),
            _ => format!(
                "[{}] or {{{}}}",
                names.join(", "),
                names
                    .iter()
                    .map(|n| format!("\"{n}\": ..."))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let output = match self.info.mode {
            StreamMode::ServerStream => format!("stream {}", self.info.item),
            _ => self.info.output.to_string(),
        };
        format!(
            "{}({}) -> {output}; give the arguments as {example}",
            self.info.name, self.info.params
        )
    }

    /// Parameter names from the declared text `a : i32, data : heapless::Vec<u8, 200>`:
    /// split at top-level commas only (not those inside `<...>` or `(...)`).
    fn param_names(&self) -> Vec<&'static str> {
        let text = self.info.params;
        let (mut depth, mut start, mut parts) = (0i32, 0, Vec::new());
        for (i, c) in text.char_indices() {
            match c {
                '<' | '(' | '[' => depth += 1,
                '>' | ')' | ']' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&text[start..]);
        parts
            .into_iter()
            .filter_map(|p| p.split(':').next())
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect()
    }

    /// JSON argument to encoded arguments: an array of the parameters, an object by
    /// parameter name, or, for a single parameter, the bare value. Each reading is tried in
    /// turn; the error names the expected shape.
    pub(crate) fn encode(&self, arg: Value) -> Result<Vec<u8>, String> {
        let names = self.param_names();
        let readings = match (&arg, names.len()) {
            (Value::Object(map), _) => vec![Value::Array(
                names
                    .iter()
                    .map(|n| map.get(*n).cloned().unwrap_or(Value::Null))
                    .collect(),
            )],
            (_, 0) => vec![arg.clone(), Value::Null],
            (_, 1) => vec![Value::Array(vec![arg.clone()]), arg.clone()],
            _ => vec![arg.clone()],
        };
        let mut last = String::new();
        for reading in readings {
            match (self.encode)(reading) {
                Ok(bytes) => return Ok(bytes),
                Err(e) => last = e,
            }
        }
        Err(format!("bad arguments ({last}); expected {}", self.shape()))
    }

    /// Encoded result to JSON.
    pub(crate) fn decode(&self, bytes: &[u8]) -> Result<Value, String> {
        (self.decode)(bytes)
    }

    /// An encoded server-stream item to JSON; `None` if the procedure is no stream.
    pub(crate) fn decode_item(&self, bytes: &[u8]) -> Option<Result<Value, String>> {
        self.item.map(|f| f(bytes))
    }
}

fn entry<P>(info: &'static ProcedureInfo) -> Proc
where
    P: Procedure,
    P::Args: Serialize + DeserializeOwned,
    P::Output: Serialize,
{
    Proc {
        info,
        encode: |v| {
            let args: P::Args = serde_json::from_value(v).map_err(|e| e.to_string())?;
            postcard::to_allocvec(&args).map_err(|e| e.to_string())
        },
        decode: |b| {
            let out = P::output(b).map_err(|e| e.to_string())?;
            serde_json::to_value(out).map_err(|e| e.to_string())
        },
        item: None,
    }
}

/// A server stream: its arguments and items (its final answer is `()`).
fn stream_entry<P>(info: &'static ProcedureInfo) -> Proc
where
    P: StreamProcedure,
    P::Args: Serialize + DeserializeOwned,
    P::Output: Serialize,
    P::Item: Serialize,
{
    Proc {
        item: Some(|b| {
            let item = P::decode_item(b).map_err(|e| e.to_string())?;
            serde_json::to_value(item).map_err(|e| e.to_string())
        }),
        ..entry::<P>(info)
    }
}

/// Every procedure of the demo service.
pub(crate) fn all() -> Vec<Proc> {
    let p = demo::PROCEDURES;
    vec![
        entry::<demo::Add>(&p[0]),
        entry::<demo::Echo>(&p[1]),
        entry::<demo::Fail>(&p[2]),
        entry::<demo::Huge>(&p[3]),
        entry::<demo::Sleep>(&p[4]),
        stream_entry::<demo::Count>(&p[5]),
    ]
}

/// The procedure called `name`.
pub(crate) fn find(name: &str) -> Result<Proc, String> {
    let procs = all();
    let names: Vec<_> = procs.iter().map(|p| p.info.name).collect();
    procs
        .into_iter()
        .find(|p| p.info.name == name)
        .ok_or_else(|| {
            format!(
                "unknown procedure `{name}`; the demo service has: {}",
                names.join(", ")
            )
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn arguments_by_position_by_name_or_bare() {
        let add = find("add").unwrap();
        let want = postcard::to_allocvec(&(40i32, 2i32)).unwrap();
        assert_eq!(add.encode(serde_json::json!([40, 2])).unwrap(), want);
        assert_eq!(
            add.encode(serde_json::json!({"a": 40, "b": 2})).unwrap(),
            want
        );
        let err = add.encode(serde_json::json!("x")).unwrap_err();
        assert!(
            err.contains("add(a : i32, b : i32) -> i32") && err.contains("[a, b]"),
            "{err}"
        );
        let echo = find("echo").unwrap();
        assert_eq!(echo.param_names(), ["data"]);
        let bytes = heapless::Vec::<u8, 200>::from_slice(&[104, 105]).unwrap();
        let want = postcard::to_allocvec(&(bytes,)).unwrap();
        assert_eq!(echo.encode(serde_json::json!([104, 105])).unwrap(), want);
        assert_eq!(
            echo.encode(serde_json::json!({"data": [104, 105]}))
                .unwrap(),
            want
        );
        assert_eq!(
            find("fail").unwrap().encode(serde_json::json!([])).unwrap(),
            Vec::<u8>::new()
        );
        assert!(find("nope")
            .err()
            .unwrap()
            .contains("add, echo, fail, huge"));
    }
}
