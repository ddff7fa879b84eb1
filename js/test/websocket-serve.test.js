// The WebSocket link against the real thing: `wirecall serve --ws` (the demo service) and
// `wirecall web --to` (a bridge whose far link cannot open). Needs globalThis.WebSocket:
// Node 22, or Node 20 with --experimental-websocket (`npm run test:websocket`); skipped
// without it, and without the wirecall binary.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionLost, LinkError, connect } from "../src/node.js";
import { JS_DIR, binMissing, kill, startWirecall } from "../test-support/wirecall-bin.js";

const skip = typeof globalThis.WebSocket !== "function"
  ? "no globalThis.WebSocket: run with node --experimental-websocket (npm run test:websocket) or Node 22"
  : binMissing() ?? false;

test("calls and a server stream over wirecall serve --ws", { skip }, async () => {
  const { child, match } = await startWirecall(["serve", "--ws", "127.0.0.1:0"], /serving the demo service on (ws:\/\/\S+)/);
  try {
    const dev = await connect(match[1]);
    assert.equal(dev.service, "demo");
    assert.equal(await dev.add(2, 40), 42);
    // Many calls at once, and a stream longer than any window: the link carries them all.
    const sums = await Promise.all(Array.from({ length: 64 }, (_, i) => dev.add(i, i)));
    assert.deepEqual(sums, Array.from({ length: 64 }, (_, i) => 2 * i));
    const items = await dev.count(5000).toArray();
    assert.equal(items.length, 5000);
    assert.equal(items[4999], 4999);
    // The server goes: calls fail, the device closes.
    const pending = dev.sleep(10000);
    kill(child);
    await assert.rejects(pending, ConnectionLost);
    await dev.peer.done();
  } finally {
    kill(child);
  }
});

test("a bridge that cannot open its link: a LinkError with the server's reason", { skip }, async () => {
  const { child, match } = await startWirecall(
    ["web", "--listen", "127.0.0.1:0", "--root", JS_DIR, "--to", "tcp://127.0.0.1:1"],
    /the demo page is at http:\/\/(\S+)\//);
  try {
    await assert.rejects(connect(`ws://${match[1]}/ws`), (e) => {
      assert.ok(e instanceof LinkError, `${e.name}: ${e.message}`);
      assert.match(e.message, /^cannot connect to ws:\/\/127\.0\.0\.1:\d+\/ws: the connection closed \(code \d+\): .*127\.0\.0\.1:1/);
      return true;
    });
  } finally {
    kill(child);
  }
});

test("nothing listening: a LinkError naming the URL", { skip }, async () => {
  await assert.rejects(connect("ws://127.0.0.1:1/ws"), (e) => e instanceof LinkError && e.message.startsWith("cannot connect to ws://127.0.0.1:1/ws: "));
});
