// A device that restarts behind a Device: with the same schema, calls carry on in the new
// session; with another (re-flashed), the Device refuses to go on with the old manifest.
// The peer is a Peer over a link in memory, since the point is a new endpoint appearing on
// the same line, which no real part here can stage on demand.

import { test } from "node:test";
import assert from "node:assert/strict";
import * as wirecall from "../src/node.js";
import { memoryPair, tap } from "./support/memlink.js";

const { Schema } = wirecall.wasm();

/** A device serving `add` of service `name` (by the declared schema) on `link`. */
function device(t, link, name) {
  const schema = Schema.declare({ service: name, procedures: [{ name: "add", params: { a: "i32", b: "i32" }, output: "i32" }] });
  const peer = new wirecall.Peer(link, {
    engine: { manifest: schema.bytes() },
    onRequest(peer, e) {
      const { a, b } = schema.decode("args", "add", e.args);
      peer.respond(e.request, schema.encode("output", "add", a + b));
    },
  });
  // Its timers would keep the process alive (an unplugged device keeps its own session).
  t.after(() => peer.close());
  return peer;
}

/**
 * A Device bound to a `calc` device that answers one call, then is replaced on the same
 * line by a device serving service `then` (a restart, or a re-flash when the name differs).
 */
async function restarted(t, then) {
  const [hostEnd, deviceEnd] = memoryPair();
  const first = tap(deviceEnd);
  device(t, first, "calc");
  const dev = await wirecall.deviceOver(hostEnd);
  t.after(() => dev.close());
  assert.equal(await dev.add(2, 3), 5);
  first.unplug();
  device(t, tap(deviceEnd), then);
  return dev;
}

test("a device that restarts with the same schema: calls carry on", async (t) => {
  const dev = await restarted(t, "calc");
  // A call made before this side hears of the restart may have reached the old device or
  // none: it fails with ConnectionLost, never silently. The new session then carries calls.
  await dev.add(4, 5).then((sum) => assert.equal(sum, 9), (e) => assert.ok(e instanceof wirecall.ConnectionLost, e));
  await dev.peer.ready();
  assert.equal(await dev.add(6, 7), 13);
  assert.ok(dev.stats().handshakes >= 2);
});

test("a device re-flashed with another schema: the Device closes with IncompatibleSchema", async (t) => {
  const dev = await restarted(t, "other");
  await assert.rejects(dev.peer.done().then(() => dev.add(1, 1)), wirecall.IncompatibleSchema);
});

test("a device that restarts while the client connects: connect reads the manifest of the new session", async (t) => {
  const [hostEnd, deviceEnd] = memoryPair();
  let swapped = false;
  // The first device goes away when the host's first request after the handshake (the
  // manifest's, kind 0x0e) reaches it, and a new one takes the line.
  const first = tap(deviceEnd, {
    onData(bytes) {
      if (swapped || !bytes.includes(0x0e)) return true;
      swapped = true;
      first.unplug();
      device(t, tap(deviceEnd), "calc");
      return false;
    },
  });
  device(t, first, "calc");
  const dev = await wirecall.deviceOver(hostEnd);
  t.after(() => dev.close());
  assert.ok(swapped, "the device restarted during connect");
  assert.equal(await dev.add(2, 3), 5);
});
