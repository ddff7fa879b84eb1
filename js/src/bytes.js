// Byte sequences for handlers. The codec decodes bytes (`Vec<u8>`, `[u8; N]`) to its JSON
// form, a string: the text itself when it is UTF-8 without control characters and does not
// start with `0x` or `base64:`, else `0x` and hex. That is unambiguous, so it turns back
// into the bytes here: a handler gets a Uint8Array, as a Rust handler gets its bytes.

const encoder = new TextEncoder();

/** The bytes a decoded byte string stands for. */
export function bytesOf(text) {
  if (typeof text !== "string") return text;
  if (!text.startsWith("0x")) return encoder.encode(text);
  const out = new Uint8Array((text.length - 2) >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 + 2 * i, 2), 16);
  return out;
}

const isBytes = (t) => (t.type === "seq" || t.type === "array") && t.item?.type === "u8";

/** A function converting each of `values` with the converter at the same index (if any). */
function positional(converters) {
  if (converters.every((c) => c === null)) return null;
  return (v) => (Array.isArray(v) ? v.map((x, i) => (converters[i] ? converters[i](x) : x)) : v);
}

/** A function converting an object's members with the converters by name (if any). */
function byName(fields) {
  const converters = fields.map((f) => [f.name, converter(f.type)]).filter(([, c]) => c !== null);
  if (converters.length === 0) return null;
  return (v) => {
    if (v === null || typeof v !== "object") return v;
    const out = { ...v };
    for (const [name, c] of converters) if (name in out) out[name] = c(out[name]);
    return out;
  };
}

/** An enum's value: a unit variant as its name, any other as `{Variant: body}`. */
function variants(list) {
  const bodies = new Map();
  for (const v of list) {
    let c = null;
    if (v.kind === "newtype") c = converter(v.inner);
    else if (v.kind === "tuple") c = positional(v.items.map(converter));
    else if (v.kind === "struct") c = byName(v.fields);
    if (c) bodies.set(v.name, c);
  }
  if (bodies.size === 0) return null;
  return (v) => {
    if (v === null || typeof v !== "object") return v;
    const [name] = Object.keys(v);
    const c = bodies.get(name);
    return c ? { [name]: c(v[name]) } : v;
  };
}

/**
 * The function that turns a decoded value of type `t` (the manifest's JSON form) into what
 * a handler gets, byte strings made Uint8Arrays; null when `t` holds no bytes (nothing to do).
 */
export function converter(t) {
  if (!t || typeof t !== "object") return null;
  if (isBytes(t)) return bytesOf;
  switch (t.type) {
    case "seq":
    case "array": {
      const c = converter(t.item);
      return c && ((v) => (Array.isArray(v) ? v.map(c) : v));
    }
    case "option": {
      const c = converter(t.some);
      return c && ((v) => (v === null ? null : c(v)));
    }
    case "tuple":
      return positional(t.items.map(converter));
    case "tuple_struct":
      return positional(t.fields.map(converter));
    case "newtype_struct":
      return converter(t.inner);
    case "struct":
      return byName(t.fields);
    case "enum":
      return variants(t.variants);
    case "map": {
      const k = converter(t.key);
      const c = converter(t.value);
      if (!k && !c) return null;
      return (v) => {
        // Pairs when the keys cannot be object keys (or are not in order), else an object.
        if (Array.isArray(v)) return v.map(([key, value]) => [k ? k(key) : key, c ? c(value) : value]);
        if (v === null || typeof v !== "object" || !c) return v;
        return Object.fromEntries(Object.entries(v).map(([key, value]) => [key, c(value)]));
      };
    }
    default:
      return null;
  }
}
