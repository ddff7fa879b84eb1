// Services declared in JavaScript have the manifests the Rust `service!` builds for the
// same declarations: byte for byte for `calc` (so the same schema hash, and the Rust typed
// client calls the Node server, see tests/tests/it/node.rs), entry for entry for `demo`
// (whose `open` returns a handle, out of this package's scope). And declaration mistakes
// are reported where they are written.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Service, connect } from "wirecall";
import { calc } from "../examples/server.js";
import { demo } from "../examples/demo.js";
import { CALC_SERVER, missing } from "./support/commands.js";
import { WIRECALL } from "./support/processes.js";

test("the JavaScript calc has the Rust calc's manifest, byte for byte", { skip: missing(CALC_SERVER, "cargo build -p wirecall-tests --bins") }, async () => {
  const rust = await connect(`exec:${CALC_SERVER}`);
  try {
    assert.equal(calc.hash, rust.schemaHash);
    assert.equal(calc.hash, 0x3d9291fd);
    assert.deepEqual(calc.schema.bytes(), rust.schema.bytes());
  } finally {
    await rust.close();
  }
});

test("the JavaScript demo declares every procedure of the Rust demo but open as it does", { skip: missing(WIRECALL, "cargo build -p wirecall-cli") }, async () => {
  const rust = await connect(`exec:${WIRECALL} serve --stdio`);
  try {
    const expected = rust.manifest.procedures.filter((p) => p.name !== "open");
    assert.deepEqual(demo.describe().procedures, expected);
  } finally {
    await rust.close();
  }
});

test("ids are the first free numbers, around those given; kinds follow the items", () => {
  const s = new Service("ids")
    .expose("a", {}, () => {})
    .expose("b", { id: 5, item: "u8" }, function* () {})
    .expose("c", { in_item: "u8" }, async () => {})
    .expose("d", { in_item: "u8", item: "u8" }, async function* () {});
  assert.deepEqual(s.describe().procedures.map((p) => [p.name, p.id, p.kind]), [
    ["a", 0, "call"], ["b", 5, "server stream"], ["c", 1, "client stream"], ["d", 2, "bidi stream"],
  ]);
});

test("structs and enums are declared in the JSON form", () => {
  const info = { type: "struct", name: "Info", fields: { version: "u32", name: "String<16>" } };
  const mode = { type: "enum", name: "Mode", variants: [{ name: "Off" }, { name: "Blink", fields: { hz: "u8" } }] };
  const s = new Service("typed").expose("set", { params: { mode }, output: info }, () => ({ version: 1, name: "x" }));
  assert.equal(s.describe().procedures[0].signature, "set(mode: Mode) -> Info");
});

test("declaration mistakes throw where they are written", () => {
  const s = new Service("bad");
  assert.throws(() => s.expose("add", { params: { a: "i33" } }, () => {}), /bad\.add: .*unknown type "i33"/);
  assert.throws(() => s.expose("add", { parms: {} }, () => {}), /unknown member parms/);
  assert.throws(() => s.expose("add", { kind: "stream" }, () => {}), /unknown kind "stream"/);
  assert.throws(() => s.expose("add", {}, "not a function"), /must be a function/);
  s.expose("add", { id: 3 }, () => {});
  assert.throws(() => s.expose("add", {}, () => {}), /exposed already/);
  s.expose("other", { id: 3 }, () => {});
  assert.throws(() => s.hash, /^TypeError: bad: /, "two procedures with id 3");
  const fixed = new Service("fixed").expose("a", {}, () => {});
  void fixed.hash;
  assert.throws(() => fixed.expose("b", {}, () => {}), /its procedures are fixed/);
});
