// Calls that end while their caller waits for something else (credit, a drained link, a
// session, a slot), handlers that outlive their connection, and what a closed peer lets
// go: each of these once hung or grew without bound (found in review), and must not again.

import { test } from "node:test";
import assert from "node:assert/strict";
import * as wirecall from "../src/node.js";
import { memoryPair, tap } from "./support/memlink.js";
import { slowPair } from "./support/slowlink.js";

const { ErrorCode, RemoteError, Service } = wirecall;

/** A Device over memory served `service`; both closed when `t` ends. */
async function pair(t, service, serveOptions = {}, clientOptions = {}, [a, b] = memoryPair()) {
  wirecall.serve(a, service, serveOptions);
  const dev = await wirecall.deviceOver(b, clientOptions);
  t.after(() => dev.close());
  return dev;
}

const items = (n, f = (i) => i) => Array.from({ length: n }, (_, i) => f(i));

test("a client stream settles when its call ends while the sender waits for credit", async (t) => {
  const service = new Service("s")
    .expose("refuse", { in_item: "u32", output: "u64" }, async () => {
      await new Promise((r) => setTimeout(r, 50));
      throw new RemoteError(ErrorCode.BadArguments, "no thanks");
    })
    .expose("early", { in_item: "u32", output: "u64" }, () => 7n)
    .expose("slow", { in_item: "u32", output: "u64" }, () => new Promise((r) => setTimeout(() => r(1n), 2000)));
  const dev = await pair(t, service, { streamWindow: 8 });
  // 100 items on a window of 8: the sender runs out of credit, then the call ends.
  await assert.rejects(dev.refuse(items(100)), (e) => e instanceof RemoteError && e.detail === "no thanks");
  assert.equal(await dev.early(items(100)), 7);
  await assert.rejects(dev.with({ timeoutMs: 200 }).slow(items(100)), (e) => e instanceof wirecall.Timeout || e instanceof wirecall.DeadlineExceeded);
  assert.equal(dev.peer.calls.size, 0);
});

test("a sender whose link is full waits for the link to drain, not for credit", async (t) => {
  let got = 0;
  const service = new Service("s").expose("sum", { in_item: "Vec<u8>", output: "u64" }, async (xs) => {
    for await (const _ of xs) got++;
    return got;
  });
  // A window of 1000 items: the server grants credit after 500, so credit cannot be what
  // unblocks a sender whose 4 KiB link buffer is full after a few items.
  const dev = await pair(t, service, { streamWindow: 1000 }, {}, slowPair(4096));
  assert.equal(await dev.sum(items(300, () => new Uint8Array(1000))), 300);
});

test("a call with the default deadline does not wait for a session forever", async (t) => {
  const service = new Service("s").expose("add", { params: { a: "i32", b: "i32" }, output: "i32" }, (a, b) => a + b);
  const [a, b] = memoryPair();
  const device = tap(a);
  const dev = await pair(t, service, { keepaliveMs: 100 }, { keepaliveMs: 100, callTimeoutMs: 300 }, [device, b]);
  assert.equal(await dev.add(1, 2), 3);
  const ended = new Promise((resolve) => dev.peer.onSession((info) => { if (!info) resolve(); }));
  device.unplug(); // the device goes silent; the link stays
  await ended;
  await assert.rejects(dev.add(1, 2), wirecall.Timeout);
});

test("handlers that ignore their signal keep their connection counted until they return", async (t) => {
  let running = 0;
  let open;
  const gate = new Promise((r) => { open = r; });
  const service = new Service("s").expose("slow", {}, async () => {
    running++;
    await gate; // ignores its signal, as a stuck query would
    running--;
  });
  const listener = await wirecall.listen("tcp://127.0.0.1:0", service, { maxCalls: 4, maxConnections: 1 });
  t.after(() => listener.close());
  const first = await wirecall.connect(listener.url);
  const calls = items(4).map(() => first.with({ timeoutMs: 60000 }).slow().catch(() => {}));
  while (running < 4) await new Promise((r) => setTimeout(r, 5));
  await first.close();
  await Promise.all(calls);
  // Its four handlers still run: a new connection would start four more. Refused.
  await assert.rejects(wirecall.connect(listener.url, { connectTimeoutMs: 2000 }));
  assert.equal(running, 4);
  open();
  while (listener.connections > 0) await new Promise((r) => setTimeout(r, 5));
  const second = await wirecall.connect(listener.url);
  await second.close();
});

test("a map key __proto__ from a peer stays data, not the object's prototype", async (t) => {
  const service = new Service("s").expose("get", { output: "Map<String, Vec<u8>>" }, () => [["__proto__", [1, 2]], ["a", [3]]]);
  const dev = await pair(t, service);
  const map = await dev.get();
  assert.deepEqual(Object.keys(map), ["__proto__", "a"]);
  assert.equal(Object.getPrototypeOf(map), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(map, "__proto__").value, "0x0102");
});

test("a closed peer frees its engine (wasm memory the collector does not see), and still tells its stats", async () => {
  const [a, b] = memoryPair();
  const peer = new wirecall.Peer(a);
  const other = new wirecall.Peer(b);
  await peer.ready();
  peer.close();
  other.close();
  await new Promise((r) => setImmediate(r));
  assert.equal(peer.engine.__wbg_ptr, 0, "freed");
  assert.ok(peer.stats().handshakes >= 1);
  await assert.rejects(peer.call(0, new Uint8Array()), wirecall.ConnectionLost);
});
