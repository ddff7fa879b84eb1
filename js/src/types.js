// TypeScript declarations of a device, from its manifest: an interface with one method per
// procedure, typed as the package's client takes and gives values (the codec's JSON
// conventions, schema/src/lib.rs, and the BigInt rule of js/wasm/src/value.rs).
//
// Values a procedure takes (arguments, items sent) and values it gives (results, items
// received) have different types: the codec takes more forms than it prints (a u64 as a
// number, a BigInt or a decimal string; bytes as a Uint8Array, an array or a string) and
// prints one (bytes as a string: the text, or "0x" and hex). So each named type has two
// declarations when they differ: `Info` (as received) and `InfoInput` (as sent).

/** Members of Device: a procedure with one of these names is called by `call(name, ...)`. */
const DEVICE_MEMBERS = new Set([
  "call", "with", "close", "stats", "service", "procedures", "schemaHash", "manifest", "peer",
  "schema", "defaults", "byName", "constructor",
]);

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A name as a TypeScript property key. */
function key(name) {
  return IDENT.test(name) ? name : JSON.stringify(name);
}

/** A name as a TypeScript type name (`sensor-hub` -> `SensorHub`). */
export function typeName(name) {
  const words = String(name).split(/[^A-Za-z0-9]+/).filter(Boolean);
  const pascal = words.map((w) => w[0].toUpperCase() + w.slice(1)).join("");
  return /^[A-Za-z_]/.test(pascal) ? pascal : `T${pascal}`;
}

const SMALL_INTS = new Set(["u8", "u16", "u32", "i8", "i16", "i32"]);
const BIG_INTS = new Set(["u64", "i64", "u128", "i128"]);
const FLOAT = 'number | "NaN" | "inf" | "-inf"';

/** The TypeScript types of one manifest's values; collects the named types it meets. */
class Writer {
  constructor() {
    /** name -> {output, input} declaration texts, in the order first met. */
    this.named = new Map();
  }

  /** The type of a value of `t` as sent (`input`) or as received. */
  type(t, input) {
    if (!t) return "null";
    switch (t.type) {
      case "unit": return input ? "null | undefined" : "null";
      case "bool": return "boolean";
      case "f32":
      case "f64": return FLOAT;
      case "char":
      case "string": return "string";
      case "option": return `${this.wrap(this.type(t.some, input))} | null${input ? " | undefined" : ""}`;
      case "seq":
      case "array":
        if (t.item?.type === "u8") return input ? "Uint8Array | readonly number[] | string" : "string";
        return input ? `readonly ${this.wrap(this.type(t.item, input))}[]` : `${this.wrap(this.type(t.item, input))}[]`;
      case "tuple": return this.tuple(t.items, input);
      case "map": return this.map(t, input);
      case "handle": return input ? "never" : "{ handle: string; slot: number; generation: number }";
      case "struct":
      case "tuple_struct":
      case "unit_struct":
      case "newtype_struct":
      case "enum": return this.reference(t, input);
      default:
        if (SMALL_INTS.has(t.type)) return "number";
        if (BIG_INTS.has(t.type)) {
          // Decoded: a number within 2^53, a BigInt beyond; 128-bit values beyond 64 bits
          // print as decimal strings. Any of those is taken.
          if (input) return "number | bigint | string";
          return t.type.endsWith("128") ? "number | bigint | string" : "number | bigint";
        }
        return "unknown";
    }
  }

  wrap(text) {
    return /[|&]/.test(text) ? `(${text})` : text;
  }

  tuple(items, input) {
    const inner = items.map((i) => this.type(i, input)).join(", ");
    return input ? `readonly [${inner}]` : `[${inner}]`;
  }

  map(t, input) {
    const k = this.type(t.key, input);
    const v = this.type(t.value, input);
    const objectKeys = ["string", "char", "bool"].includes(t.key.type) || SMALL_INTS.has(t.key.type) || BIG_INTS.has(t.key.type);
    const pairs = input ? `ReadonlyArray<readonly [${k}, ${v}]>` : `[${k}, ${v}][]`;
    const record = `Record<string, ${v}>`;
    if (input) return `${objectKeys ? `${record} | ` : ""}Map<${k}, ${v}> | ${pairs}`;
    // Decoded as an object when the key type allows one and the keys are in order, else pairs.
    return objectKeys ? `${record} | ${pairs}` : pairs;
  }

  /** A struct or enum: declared once by name, referred to by name. */
  reference(t, input) {
    const name = typeName(t.name);
    if (!this.named.has(name)) {
      const entry = { output: null, input: null, source: t };
      this.named.set(name, entry);
      entry.output = this.body(t, false);
      entry.input = this.body(t, true);
    }
    const entry = this.named.get(name);
    return input && entry.input !== entry.output ? `${name}Input` : name;
  }

  body(t, input) {
    switch (t.type) {
      case "struct": return this.fields(t.fields, input);
      case "tuple_struct": return this.tuple(t.fields, input);
      case "unit_struct": return input ? "null | undefined" : "null";
      case "newtype_struct": return this.type(t.inner, input);
      default: {
        const variants = t.variants.map((v) => {
          switch (v.kind) {
            case "unit": return JSON.stringify(v.name);
            case "newtype": return `{ ${key(v.name)}: ${this.type(v.inner, input)} }`;
            case "tuple": return `{ ${key(v.name)}: ${this.tuple(v.items, input)} }`;
            default: return `{ ${key(v.name)}: ${this.fields(v.fields, input)} }`;
          }
        });
        return variants.length ? variants.join(" | ") : "never";
      }
    }
  }

  fields(fields, input) {
    if (fields.length === 0) return "{}";
    return `{ ${fields.map((f) => `${key(f.name)}: ${this.type(f.type, input)};`).join(" ")} }`;
  }
}

/** The manifest's JSON form from `describe()`, a Device's `manifest`, or `wirecall list --json`. */
function manifestOf(json) {
  const m = json && typeof json === "object" && json.manifest && !json.procedures ? json.manifest : json;
  if (!m || typeof m !== "object" || typeof m.service !== "string" || !Array.isArray(m.procedures)) {
    throw new TypeError("expected a manifest's JSON form ({service, procedures, ...}) or `wirecall list --json` output ({schema, manifest})");
  }
  return m;
}

/** One procedure as a method of the device's interface. */
function method(w, p) {
  const params = p.params.map((param) => `${key(param.name)}: ${w.type(param.type, true)}`);
  if (p.in_item) params.push(`items: AsyncIterable<${w.type(p.in_item, true)}> | Iterable<${w.type(p.in_item, true)}>`);
  const output = w.type(p.output, false);
  const result = p.item ? `ItemStream<${w.type(p.item, false)}, ${output}>` : `Promise<${output}>`;
  return `  /** \`${p.signature ?? p.name}\` (procedure ${p.id}, ${p.kind}) */\n  ${key(p.name)}(${params.join(", ")}): ${result};`;
}

/**
 * The text of a `.d.ts` declaring the device that serves `manifest` (its JSON form, as
 * `describe()`, `device.manifest` or `wirecall list --json` give it): `interface
 * <Service>Device extends Device` with a method per procedure (`add(a: number, b: number):
 * Promise<number>`, server streams as `ItemStream<T, Output>`, client streams taking an
 * `AsyncIterable<T> | Iterable<T>` last), and its structs and enums as types. Options:
 * `module` (where Device and ItemStream come from, default "wirecall"), `schema` (the
 * hash, for the header; `wirecall list --json` output carries it).
 */
export function typescript(manifest, options = {}) {
  const m = manifestOf(manifest);
  const schema = options.schema ?? manifest?.schema;
  const module = options.module ?? "wirecall";
  const w = new Writer();
  const name = `${typeName(m.service)}Device`;
  const methods = [];
  const byCall = [];
  for (const p of m.procedures) {
    // Typed either way, so that the named types it uses are declared for `call(name)`.
    const text = method(w, p);
    if (DEVICE_MEMBERS.has(p.name)) byCall.push(p.name);
    else methods.push(text);
  }
  const lines = [
    `// The wirecall service "${m.service}"${schema !== undefined ? ` (schema ${typeof schema === "number" ? `0x${schema.toString(16).toUpperCase()}` : schema})` : ""}, as the wirecall package calls it.`,
    "// Generated by wirecall-types from the service's manifest: do not edit.",
    "",
    `import type { CallDefaults, Device, ItemStream } from ${JSON.stringify(module)};`,
    "",
  ];
  for (const [typeName, entry] of w.named) {
    lines.push(`/** \`${entry.source.name}\` as received. */`, `export type ${typeName} = ${entry.output};`);
    if (entry.input !== entry.output) lines.push(`/** \`${entry.source.name}\` as sent. */`, `export type ${typeName}Input = ${entry.input};`);
    lines.push("");
  }
  if (byCall.length) lines.push(`// Called with device.call(name, ...): ${byCall.join(", ")} (the names of Device members).`);
  lines.push(`/** A device serving "${m.service}": \`connect<${name}>(url)\`. */`);
  lines.push(`export interface ${name} extends Device {`, ...methods,
    `  /** This device with other call defaults (deadline, AbortSignal). */`,
    `  with(defaults: CallDefaults): ${name};`, "}", "");
  return lines.join("\n");
}
