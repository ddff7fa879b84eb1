// A Service: procedures written in JavaScript, declared with their wire types, and the
// manifest that describes them. The manifest is built by the Rust codec compiled into the
// WebAssembly module (`Schema.declare`), the same code that reads manifests, so a service
// declared here with the types of a Rust `service!` has byte for byte its manifest and
// schema hash: the Rust typed client calls it as it calls the Rust server.

import { wasm } from "./wasm.js";

/** The kinds of procedure, as the manifest names them. */
export const KINDS = Object.freeze(["call", "server stream", "client stream", "bidi stream"]);

/** What `expose` takes in its spec; anything else is a mistake, refused by name. */
const SPEC_KEYS = new Set(["params", "output", "kind", "item", "in_item", "id"]);

/** The JSON form of a declaration error (`BadManifest`) as a TypeError. */
function declarationError(e, where) {
  return new TypeError(`${where}: ${e?.message ?? e}`);
}

/** The kind a spec implies: its own, else what its items say (as the Rust reader derives). */
function kindOf(spec) {
  if (spec.kind !== undefined) return spec.kind;
  if (spec.item !== undefined && spec.in_item !== undefined) return "bidi stream";
  if (spec.item !== undefined) return "server stream";
  if (spec.in_item !== undefined) return "client stream";
  return "call";
}

/**
 * A named set of procedures served together, and their manifest.
 *
 * ```js
 * const calc = new Service("calc");
 * calc.expose("add", { params: { a: "i32", b: "i32" }, output: "i32" }, (a, b) => a + b);
 * calc.expose("upto", { params: { n: "u32" }, item: "u32" }, function* (n) {
 *   for (let i = 0; i < n; i++) yield i;
 * });
 * ```
 *
 * The manifest is fixed when it is first used (`schema`, or serving): exposing more after
 * that throws.
 */
export class Service {
  /** A service called `name` (the name its manifest carries). */
  constructor(name) {
    if (typeof name !== "string" || name === "") throw new TypeError("a service needs a name (a non-empty string)");
    this.name = name;
    /** name -> {declaration, handler, kind} in declaration order. */
    this.exposed = new Map();
    this.frozen = null;
  }

  /**
   * Serves `handler` as procedure `name`. `spec`: `params` (an object of parameter name to
   * type, in order, or an array of `{name, type}`), `output` (default unit), `item` (the
   * items it sends: a server stream), `in_item` (the items it takes: a client stream; both:
   * bidirectional), `kind` (derived from the items when left out), `id` (default: the
   * first number not taken). Types are notation strings (`"i32"`, `"Vec<u8, 200>"`,
   * `"String<16>"`, `"Option<u32>"`, `"Map<String, u32, 8>"`) or JSON-form objects (for
   * structs and enums). See serving.js for how the handler is called. Returns `this`.
   */
  expose(name, spec, handler) {
    if (typeof spec === "function" && handler === undefined) [spec, handler] = [{}, spec];
    if (this.frozen) throw new Error(`${this.name} is being served: its procedures are fixed`);
    if (typeof name !== "string" || name === "") throw new TypeError("a procedure needs a name (a non-empty string)");
    if (this.exposed.has(name)) throw new Error(`a procedure called ${name} is exposed already`);
    if (typeof handler !== "function") throw new TypeError(`${name}: the handler must be a function`);
    spec ??= {};
    for (const key of Object.keys(spec)) {
      if (!SPEC_KEYS.has(key)) throw new TypeError(`${name}: unknown member ${key} (expected ${[...SPEC_KEYS].join(", ")})`);
    }
    const kind = kindOf(spec);
    if (!KINDS.includes(kind)) throw new TypeError(`${name}: unknown kind ${JSON.stringify(kind)} (expected ${KINDS.join(", ")})`);
    const declaration = { name, ...spec, kind };
    // Checked alone now, so that a wrong type is reported where it is written; ids and
    // names across procedures are checked when the whole manifest is built.
    const single = { ...declaration };
    delete single.id;
    let probe;
    try {
      probe = wasm().Schema.declare({ service: this.name, procedures: [single] });
    } catch (e) {
      throw declarationError(e, `${this.name}.${name}`);
    } finally {
      probe?.free();
    }
    this.exposed.set(name, { declaration, handler, kind });
    return this;
  }

  /** The manifest (a wasm `Schema`: `bytes()`, `hash`, `describe()`, the codec); fixes it. */
  get schema() {
    return this.#freeze().schema;
  }

  /** The schema hash the handshake announces (as `SCHEMA_HASH` of a Rust `service!`). */
  get hash() {
    return this.schema.hash;
  }

  /** The manifest's JSON form, as `wirecall list --json` prints its `manifest`. */
  describe() {
    return this.#freeze().description;
  }

  /** The served procedure with wire number `id`: `{procedure, handler}` (its JSON form). */
  lookup(id) {
    return this.#freeze().byId.get(id);
  }

  /** Every procedure by number, as `"0 = add, 1 = chars"` (for UnknownProcedure). */
  listing() {
    return this.#freeze().listing;
  }

  #freeze() {
    if (this.frozen) return this.frozen;
    const declarations = [...this.exposed.values()].map((e) => e.declaration);
    let schema;
    try {
      schema = wasm().Schema.declare({ service: this.name, procedures: declarations });
    } catch (e) {
      throw declarationError(e, this.name);
    }
    const description = schema.describe();
    const byId = new Map();
    for (const procedure of description.procedures) {
      byId.set(procedure.id, { procedure, handler: this.exposed.get(procedure.name).handler });
    }
    const listing = description.procedures.map((p) => `${p.id} = ${p.name}`).join(", ");
    this.frozen = { schema, description, byId, listing };
    return this.frozen;
  }
}
