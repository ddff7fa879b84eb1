// The WebSocket link against a fake WebSocket (test/support/fake-websocket.js): connect
// failures name the URL and the close, writes answer false above the high-water mark and
// drain fires once bufferedAmount fell, messages received while paused wait (up to a bound)
// and go out in order after resume.

import { test } from "node:test";
import assert from "node:assert/strict";
import { LinkError } from "../src/node.js";
import { connectWebSocket, webSocketLink } from "../src/links/web.js";
import { FakeWebSocket, withFakeWebSocket } from "./support/fake-websocket.js";

const URL = "ws://127.0.0.1:9/ws";

/** A promise of the next call of a callback, and the callback. */
function nextCall() {
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  return { promise, fn: (...args) => resolve(args) };
}

/** Opens a link over a fake socket; returns both and what the link reported. */
async function openLink(options) {
  const opening = webSocketLink(URL, options);
  const ws = FakeWebSocket.made.at(-1);
  ws.open();
  const link = await opening;
  const seen = { data: [], closed: nextCall(), drained: nextCall() };
  link.start({
    data: (b) => seen.data.push([...b]),
    close: (e) => seen.closed.fn(e),
    drain: () => seen.drained.fn(),
  });
  return { ws, link, seen };
}

test("a refused connection is a LinkError naming the URL and the close", () => withFakeWebSocket(async () => {
  const opening = webSocketLink(URL);
  FakeWebSocket.made[0].fail();
  await assert.rejects(opening, (e) => e instanceof LinkError
    && e.message === `cannot connect to ${URL}: the connection failed or dropped (code 1006, no close frame)`);
  assert.equal(FakeWebSocket.made[0].binaryType, "arraybuffer");
}));

test("Node 20's WebSocket, which fires error and no close, is a LinkError too", () => withFakeWebSocket(async () => {
  const opening = webSocketLink(URL);
  const ws = FakeWebSocket.made[0];
  ws.dispatchEvent(Object.assign(new Event("error"), { message: "Received network error or non-101 status code." }));
  await assert.rejects(opening, /cannot connect to ws:\/\/127\.0\.0\.1:9\/ws: Received network error/);
}));

test("a close before the handshake gives the server's reason", () => withFakeWebSocket(async () => {
  const connecting = connectWebSocket(URL, { connectTimeoutMs: 5000 });
  const ws = FakeWebSocket.made[0];
  ws.open();
  ws.serverClose(1011, "cannot connect to tcp 127.0.0.1:1: connection refused");
  await assert.rejects(connecting, (e) => e instanceof LinkError
    && /^cannot connect to ws:\/\/127\.0\.0\.1:9\/ws: the connection closed \(code 1011\): cannot connect to tcp 127\.0\.0\.1:1: connection refused$/.test(e.message));
}));

test("writes answer false above the high-water mark; drain fires once it fell", () => withFakeWebSocket(async () => {
  const { ws, link, seen } = await openLink({ highWater: 8 });
  assert.equal(link.write(new Uint8Array([1, 2, 3])), true);
  assert.equal(link.write(new Uint8Array(8)), false);
  assert.notEqual(link.drainTimer, null, "bufferedAmount is watched while above the mark");
  ws.bufferedAmount = 4; // the network took some
  await seen.drained.promise;
  assert.equal(link.drainTimer, null, "and no longer once below it");
  assert.deepEqual(ws.sent[0], [1, 2, 3]);
  link.close();
  assert.deepEqual(ws.closedWith, { code: 1000, reason: undefined });
}));

test("messages received while paused wait and go out in order after resume", () => withFakeWebSocket(async () => {
  const { ws, link, seen } = await openLink();
  ws.receive(new Uint8Array([1]).buffer);
  link.pause();
  ws.receive(new Uint8Array([2]).buffer);
  ws.receive(new Uint8Array([3, 4]).buffer);
  assert.deepEqual(seen.data, [[1]]);
  link.resume();
  assert.deepEqual(seen.data, [[1]], "delivered from a task of their own, not inside resume()");
  await new Promise((r) => queueMicrotask(r));
  assert.deepEqual(seen.data, [[1], [2], [3, 4]]);
}));

test("a peer that sends past the bound while paused loses the link, with why", () => withFakeWebSocket(async () => {
  const { ws, link, seen } = await openLink({ maxPaused: 10 });
  link.pause();
  ws.receive(new ArrayBuffer(6));
  ws.receive(new ArrayBuffer(6));
  const [error] = await seen.closed.promise;
  assert.match(error.message, /the peer sent more than 10 bytes while this side could not take them/);
  assert.equal(ws.closedWith.code, 4000);
  assert.equal(link.heldBytes, 0);
}));

test("a message before start() waits for the Peer", () => withFakeWebSocket(async () => {
  const opening = webSocketLink(URL);
  const ws = FakeWebSocket.made[0];
  ws.open();
  const link = await opening;
  ws.receive(new Uint8Array([9]).buffer);
  const got = nextCall();
  link.start({ data: (b) => got.fn([...b]), close() {}, drain() {} });
  assert.deepEqual(await got.promise, [[9]]);
}));

test("a text message closes the link; a server's close carries its code and reason", () => withFakeWebSocket(async () => {
  const first = await openLink();
  first.ws.receive("hello");
  const [error] = await first.seen.closed.promise;
  assert.match(error.message, /text message/);

  const second = await openLink();
  second.ws.serverClose(1001, "going away");
  const [why] = await second.seen.closed.promise;
  assert.equal(why.message, `${URL}: the connection closed (code 1001): going away`);

  const third = await openLink();
  third.ws.serverClose(1000);
  const [none] = await third.seen.closed.promise;
  assert.equal(none, null, "a normal close is a plain end");
}));

test("without a WebSocket in the runtime, the error says how to get one", async () => {
  const real = globalThis.WebSocket;
  delete globalThis.WebSocket;
  try {
    await assert.rejects(webSocketLink(URL), /no WebSocket \(Node 22 or later, or Node 20 with --experimental-websocket\)/);
  } finally {
    if (real !== undefined) globalThis.WebSocket = real;
  }
});
