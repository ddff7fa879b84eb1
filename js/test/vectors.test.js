// The byte-exact vectors of docs/PROTOCOL.md (tests/vectors/wire.json) in the WebAssembly
// build under Node: an Engine walked through a session sends exactly the vectors' bytes and
// understands the peer's, broken input is dropped with the right counter, a manifest is
// served and fetched in the vectors' pieces, and a server stream goes as the vectors say.
// The same scripts as tests/tests/it/vectors.rs and stream_vectors.rs run on the native core.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { wasm } from "../src/node.js";
import { REPO } from "./support/processes.js";
import { frame } from "./support/raw.js";

const V = JSON.parse(readFileSync(join(REPO, "tests/vectors/wire.json"), "utf8"));
const hex = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
const F = Object.fromEntries(V.frames.map((f) => [f.name, { body: hex(f.body), wire: hex(f.wire) }]));
const wire = (name) => F[name].wire;
const wireId = (key) => key % 2 ** 32;

/**
 * Vector `name` with the call id `was` (its second byte) replaced by `id`. A call id is the
 * caller's choice: the core numbers calls by slot and epoch, `epoch * slots + slot`, so the
 * vectors' device (4 slots) calls its second call in slot 0 id 4 where this build (32 slots)
 * calls it id 32. Every other byte is the vector's.
 */
function withId(name, was, id) {
  const body = Uint8Array.from(F[name].body);
  assert.equal(body[1], was, `${name} carries id ${was}`);
  body[1] = id;
  return frame(body);
}

/** A device-size endpoint (256-byte frames, 4 calls) as the Rust tests' `Mcu`. */
const MCU = { maxFrame: 256, maxCalls: 4 };
/** A host-size endpoint as the Rust tests' `Host` (1024-byte frames, 16 calls). */
const HOST = { maxFrame: 1024, maxCalls: 16 };

/** Drives one Engine at time 0 against scripted peer bytes. */
class Script {
  constructor(options) {
    this.ep = new (wasm().Engine)(0, options);
    this.events = [];
  }
  sent() {
    return this.ep.pollTransmit() ?? new Uint8Array();
  }
  feed(bytes, now = 0) {
    let rest = bytes;
    while (rest.length > 0) {
      const n = this.ep.handleInput(now, rest);
      rest = rest.subarray(n);
      for (let e = this.ep.pollEvent(); e !== undefined; e = this.ep.pollEvent()) this.events.push(e);
    }
  }
  take() {
    const e = this.events;
    this.events = [];
    return e;
  }
}

test("the CRC check value and the add exchange's 22 bytes", () => {
  assert.equal(V.crc32c_check.crc, "e3069283");
  const add = V.add_exchange;
  assert.equal(hex(add.request_wire).length + hex(add.reply_wire).length, 22);
  // A device answers the vector's request with exactly the vector's reply.
  const s = new Script({ ...MCU });
  s.sent();
  s.feed(wire("hello_reply"));
  s.take();
  s.feed(hex(add.request_wire));
  const [req] = s.take();
  assert.equal(req.type, "request");
  assert.deepEqual([...req.args], [2, 4]);
  s.ep.respond(req.request, Uint8Array.of(6));
  assert.deepEqual(s.sent(), hex(add.reply_wire));
});

test("an engine speaks the vectors byte for byte", () => {
  const s = new Script({ ...MCU, schema: 0x12345678 });
  assert.deepEqual(s.sent(), wire("hello"));
  s.feed(wire("hello_reply"));
  const [connected] = s.take();
  assert.equal(connected.type, "connected");
  const { maxFrame, maxInbound, maxOutbound, schema } = connected.peer;
  assert.deepEqual([maxFrame, maxInbound, maxOutbound, schema], [1024, 16, 16, 0]);
  assert.deepEqual(s.sent(), new Uint8Array(), "a Hello reply is not answered");

  const add = s.ep.call(0, 0, Uint8Array.of(2, 4));
  assert.deepEqual(s.sent(), wire("request_add"));
  s.feed(wire("reply_add"));
  const [reply] = s.take();
  assert.equal(reply.type, "reply");
  assert.equal(reply.call, add);
  assert.deepEqual([...reply.payload], [6]);

  const timed = s.ep.call(0, 0, Uint8Array.of(2, 4), 1500);
  assert.equal(wireId(timed), 32, "slot 0, its next epoch (of 32 slots)");
  assert.deepEqual(s.sent(), withId("request_add_timeout", 4, 32));
  s.ep.cancel(timed);
  assert.deepEqual(s.sent(), withId("cancel", 4, 32));
  s.feed(withId("error_cancelled", 4, 32));
  assert.deepEqual(s.take(), [], "the final word on a cancelled call is no event");

  s.feed(wire("request_from_peer"));
  const [req] = s.take();
  assert.equal(req.type, "request");
  assert.equal(wireId(req.request), 300);
  assert.deepEqual([...req.args], [2, 4]);
  s.ep.respondError(req.request, 3, "expected (i32, i32)");
  assert.deepEqual(s.sent(), wire("error_detail"));

  s.feed(wire("ping"));
  assert.deepEqual(s.sent(), wire("pong"));
  s.ep.handleTimeout(1000);
  assert.deepEqual(s.sent(), wire("ping"));

  s.feed(wire("unknown_ignorable"), 1000);
  s.feed(wire("unknown_must_understand"), 1000);
  const stats = s.ep.stats();
  assert.deepEqual([stats.ignored_frames, stats.protocol_errors], [1, 1]);

  s.ep.close();
  assert.deepEqual(s.sent(), wire("close"));
});

test("an engine understands the peer-side vectors", () => {
  const s = new Script({ ...HOST });
  s.sent();
  s.feed(wire("hello"));
  const [connected] = s.take();
  assert.deepEqual([connected.peer.maxFrame, connected.peer.keepaliveMs, connected.peer.schema], [256, 1000, 0x12345678]);
  assert.deepEqual(s.sent(), wire("hello_reply"), "a Hello is answered with this host's Hello reply");

  s.feed(wire("request_long"));
  const [long] = s.take();
  assert.equal(long.procedure, 1);
  assert.deepEqual(long.args, F.request_long.body.subarray(3));

  const call = s.ep.call(0, 0, Uint8Array.of(2, 4));
  s.sent();
  // error_busy names id 7; the same frame for this call's id ends it with Busy.
  assert.deepEqual([...F.error_busy.body], [4, 7, 1]);
  s.feed(frame([4, wireId(call), 1]));
  const [failed] = s.take();
  assert.deepEqual([failed.type, failed.call, failed.reason, failed.code], ["call_failed", call, "remote", 1]);

  s.feed(wire("close_protocol_violation"));
  const [closed] = s.take();
  assert.deepEqual([closed.type, closed.reason, closed.code], ["disconnected", "peer_closed", 9]);
});

test("broken inputs are dropped with the right counter and the next frame works", () => {
  for (const c of V.broken) {
    const s = new Script({ ...MCU });
    s.sent();
    s.feed(wire("hello_reply"));
    s.take();
    const before = s.ep.stats()[c.counter];
    assert.notEqual(before, undefined, `counter ${c.counter}`);
    s.feed(hex(c.wire));
    assert.equal(s.ep.stats()[c.counter], before + 1, c.name);
    assert.deepEqual(s.take(), [], c.name);
    s.feed(hex(c.then));
    const events = s.take();
    assert.equal(events.length, 1, c.name);
    assert.deepEqual([events[0].type, wireId(events[0].request), events[0].procedure, [...events[0].args]],
      ["request", 9, 0, [2, 4]], c.name);
  }
});

test("a manifest is served and fetched in the vectors' pieces", () => {
  const manifest = new Uint8Array([...F.manifest_piece_first.body.subarray(3), ...F.manifest_piece_rest.body.subarray(3)]);
  assert.equal(manifest.length, 91);
  assert.equal(wasm().manifestHash(manifest), 0x61d497c5);

  const device = new Script({ ...MCU, manifest, maxFrame: 64 });
  assert.deepEqual(device.sent(), wire("hello_manifest"));
  device.feed(wire("hello_reply"));
  device.feed(wire("manifest_request"));
  assert.deepEqual(device.sent(), wire("manifest_piece_first"));
  device.feed(wire("manifest_request_rest"));
  assert.deepEqual(device.sent(), wire("manifest_piece_rest"));

  const host = new Script({ ...MCU });
  host.sent();
  host.feed(wire("hello_manifest"));
  const [connected] = host.take();
  assert.equal(connected.peer.manifest, true);
  assert.equal(connected.peer.schema, 0x61d497c5);
  host.sent();
  host.ep.requestManifest(0);
  assert.deepEqual(host.sent(), wire("manifest_request"));
  host.feed(wire("manifest_piece_first"));
  host.ep.requestManifest(57);
  assert.deepEqual(host.sent(), wire("manifest_request_rest"));
  host.feed(wire("manifest_piece_rest"));
  const got = host.take().flatMap((e) => {
    assert.equal(e.type, "manifest_piece");
    assert.equal(e.total, 91);
    return [...e.bytes];
  });
  assert.deepEqual(got, [...manifest]);
  // The schema of the wasm build parses it: the demo service of before handles.
  const schema = new (wasm().Schema)(manifest);
  assert.equal(schema.service, "demo");
  assert.equal(schema.hash, 0x61d497c5);
});

test("a caller opens a server stream byte for byte", () => {
  const s = new Script({ ...MCU, schema: 0x12345678 });
  assert.deepEqual(s.sent(), wire("hello"));
  s.feed(wire("hello_reply"));
  assert.equal(s.take()[0].peer.streamWindow, 8);
  // Two plain calls move slot 0 to its third epoch: id 8 of 4 slots, 64 of 32.
  for (const id of [0, 32]) {
    assert.equal(wireId(s.ep.call(0, 0, Uint8Array.of(2, 4))), id);
    s.sent();
    s.feed(frame([3, id, 6]));
  }
  s.take();
  const count = s.ep.open(0, 5, Uint8Array.of(3), "server stream");
  assert.equal(wireId(count), 64);
  assert.deepEqual(s.sent(), withId("open_server_stream", 8, 64));
  s.feed(withId("item_from_server", 8, 64));
  s.feed(withId("items_from_server", 8, 64));
  const items = s.take();
  assert.deepEqual(items.map((e) => [e.type, e.call, [...e.item]]), [0, 1, 2, 3].map((i) => ["item", count, [i]]));
  for (let n = 0; n < 4; n++) {
    assert.deepEqual(s.sent(), new Uint8Array(), `no credit before half the window (${n})`);
    s.ep.consume(count, 1);
  }
  assert.deepEqual(s.sent(), withId("credit_from_caller", 8, 64));
  s.feed(withId("end_from_server", 8, 64));
  assert.deepEqual(s.take(), [], "the End alone is no event");
  s.feed(withId("reply_stream_end", 8, 64));
  const [done] = s.take();
  assert.deepEqual([done.type, done.call, done.payload.length], ["reply", count, 0]);

  const bidi = s.ep.open(0, 6, new Uint8Array(), "bidi stream", 2000);
  assert.equal(wireId(bidi), 96);
  assert.deepEqual(s.sent(), withId("open_bidi_timeout", 12, 96));
  assert.equal(s.ep.credit(bidi), 8);
  s.ep.sendItem(bidi, Uint8Array.of(7, 7));
  assert.deepEqual(s.sent(), withId("item_from_caller", 12, 96));
  s.feed(withId("credit_from_server", 12, 96));
  assert.equal(s.ep.credit(bidi), 11);
  s.ep.endItems(bidi);
  assert.deepEqual(s.sent(), withId("end_items", 12, 96));
  assert.throws(() => s.ep.sendItem(bidi, Uint8Array.of(1)), (e) => e.code === "NotSending");
});

test("the test's own framing reproduces every wire string (so the frames it builds are right)", () => {
  for (const [name, f] of Object.entries(F)) assert.deepEqual(frame(f.body), f.wire, name);
});
