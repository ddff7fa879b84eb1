//! A proptest strategy for JSON values of a given type, written as the crate's JSON
//! conventions say, so that round trips can start from valid values.

use proptest::prelude::*;
use serde_json::{Map, Value};
use wirecall_schema::{Type, VariantKind};

/// Any JSON value of `ty` (which must have values: no enum without variants). Sequences
/// and maps stay short; strings respect their bound.
pub(crate) fn arb_value(ty: &Type) -> BoxedStrategy<Value> {
    match ty {
        Type::Unit | Type::UnitStruct { .. } => Just(Value::Null).boxed(),
        Type::Handle(_) => panic!("no JSON encodes to a handle"),
        Type::Bool => any::<bool>().prop_map(Value::from).boxed(),
        Type::U8 => any::<u8>().prop_map(Value::from).boxed(),
        Type::U16 => any::<u16>().prop_map(Value::from).boxed(),
        Type::U32 => any::<u32>().prop_map(Value::from).boxed(),
        Type::U64 => any::<u64>().prop_map(Value::from).boxed(),
        Type::U128 => any::<u128>().prop_map(|u| wide(u.to_string())).boxed(),
        Type::I8 => any::<i8>().prop_map(Value::from).boxed(),
        Type::I16 => any::<i16>().prop_map(Value::from).boxed(),
        Type::I32 => any::<i32>().prop_map(Value::from).boxed(),
        Type::I64 => any::<i64>().prop_map(Value::from).boxed(),
        Type::I128 => any::<i128>().prop_map(|i| wide(i.to_string())).boxed(),
        Type::F32 => any::<f32>().prop_map(|f| float(f64::from(f))).boxed(),
        Type::F64 => any::<f64>().prop_map(float).boxed(),
        Type::Char => any::<char>()
            .prop_map(|c| Value::from(c.to_string()))
            .boxed(),
        Type::String { max } => {
            let max = *max as usize;
            "\\PC{0,8}"
                .prop_map(move |s| Value::from(cut(s, max)))
                .boxed()
        }
        Type::Option(inner) => prop_oneof![Just(Value::Null), arb_value(inner)].boxed(),
        Type::Seq { max, item } => {
            let most = if *max == 0 { 4 } else { (*max as usize).min(4) };
            proptest::collection::vec(arb_value(item), 0..=most)
                .prop_map(Value::Array)
                .boxed()
        }
        Type::Array { len, item } => proptest::collection::vec(arb_value(item), *len as usize)
            .prop_map(Value::Array)
            .boxed(),
        Type::Map { max, key, value } => {
            let most = if *max == 0 { 3 } else { (*max as usize).min(3) };
            let pair =
                (arb_value(key), arb_value(value)).prop_map(|(k, v)| Value::Array(vec![k, v]));
            proptest::collection::vec(pair, 0..=most)
                .prop_map(Value::Array)
                .boxed()
        }
        Type::Tuple(types) | Type::TupleStruct { fields: types, .. } => all(types),
        Type::Struct { fields, .. } => {
            let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
            let values: Vec<_> = fields.iter().map(|f| arb_value(&f.ty)).collect();
            values
                .prop_map(move |vs| Value::Object(names.iter().cloned().zip(vs).collect()))
                .boxed()
        }
        Type::NewtypeStruct { inner, .. } => arb_value(inner),
        Type::Enum { variants, .. } => {
            let each: Vec<BoxedStrategy<Value>> = variants
                .iter()
                .map(|v| {
                    let name = v.name.clone();
                    let body = match &v.kind {
                        VariantKind::Unit => return Just(Value::from(name)).boxed(),
                        VariantKind::Newtype(inner) => arb_value(inner),
                        VariantKind::Tuple(types) => all(types),
                        VariantKind::Struct(fields) => {
                            arb_value(&Type::structure("", fields.clone()))
                        }
                    };
                    body.prop_map(move |b| Value::Object(Map::from_iter([(name.clone(), b)])))
                        .boxed()
                })
                .collect();
            proptest::sample::select((0..each.len()).collect::<Vec<_>>())
                .prop_flat_map(move |i| each[i].clone())
                .boxed()
        }
    }
}

/// One value of each type, as an array.
fn all(types: &[Type]) -> BoxedStrategy<Value> {
    let values: Vec<_> = types.iter().map(arb_value).collect();
    values.prop_map(Value::Array).boxed()
}

/// A u128 or i128 as the conventions print it: a number within i64/u64, else a string.
fn wide(decimal: String) -> Value {
    serde_json::from_str::<Value>(&decimal)
        .ok()
        .filter(|v| v.is_u64() || v.is_i64())
        .unwrap_or(Value::from(decimal))
}

fn float(f: f64) -> Value {
    if f.is_nan() {
        Value::from("NaN")
    } else if f.is_infinite() {
        Value::from(if f > 0.0 { "inf" } else { "-inf" })
    } else {
        Value::from(f)
    }
}

/// `s` cut to at most `max` bytes (0: no bound) at a character boundary.
fn cut(mut s: String, max: usize) -> String {
    if max > 0 {
        while s.len() > max {
            s.pop();
        }
    }
    s
}
