// The Node client against the Rust demo server (`wirecall serve`): over TCP, a Unix socket,
// a child process's stdio and a serial line (a socat pty pair); calls, errors, timeouts,
// cancellation, streams, many calls in flight, and a server that goes away.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import * as wirecall from "../src/node.js";
import { WIRECALL, onPath, serveDemo, start, stop, tempDir } from "./support/processes.js";

/** A client of a fresh demo server on TCP. */
async function demoClient(t, options = {}) {
  const { child, address } = await serveDemo(t, "--tcp", "127.0.0.1:0");
  const dev = await wirecall.connect(`tcp://${address.replace(/^tcp /, "")}`, options);
  t.after(() => dev.close());
  return { dev, server: child };
}

test("the client lists the demo service and calls it by name", async (t) => {
  const { dev } = await demoClient(t);
  assert.equal(dev.service, "demo");
  assert.deepEqual(dev.procedures.map((p) => p.name), ["add", "echo", "fail", "huge", "sleep", "count", "open"]);
  assert.equal(dev.procedures[0].signature, "add(a: i32, b: i32) -> i32");
  assert.equal(await dev.add(2, 40), 42);
  assert.equal(await dev.add({ a: -7, b: 5 }), -2);
  assert.equal(await dev.add([1, 2]), 3);
  assert.equal(await dev.call("add", 2147483600, 47), 2147483647);
  assert.equal(await dev.echo("hello"), "hello");
  assert.equal(await dev.echo(new Uint8Array([0, 1, 255])), "0x0001ff");
  const huge = await dev.huge();
  assert.equal(typeof huge, "string");
});

test("errors are explicit: the device's, the codec's, unknown procedures", async (t) => {
  const { dev } = await demoClient(t);
  await assert.rejects(dev.fail(), (e) => e instanceof wirecall.RemoteError && e.code === wirecall.ErrorCode.Internal);
  // The arguments do not fit: nothing is sent.
  const sent = dev.stats().calls_sent;
  await assert.rejects(dev.add(1), (e) => e instanceof wirecall.EncodeError && /expected 2 arguments/.test(e.message));
  await assert.rejects(dev.add(1, "x"), (e) => e instanceof wirecall.EncodeError && /expected i32 at b/.test(e.message));
  await assert.rejects(dev.add(2147483648, 0), wirecall.EncodeError);
  await assert.rejects(dev.call("nope"), /has no procedure nope/);
  assert.equal(dev.stats().calls_sent, sent);
  // An i32 overflow in the device: its error, with its detail.
  await assert.rejects(dev.add(2147483647, 1), wirecall.RemoteError);
  assert.equal(await dev.add(1, 1), 2, "the session carries on");
});

test("a call past its deadline fails with a timeout and the device is told", async (t) => {
  const { dev } = await demoClient(t);
  const quick = dev.with({ timeoutMs: 100 });
  await assert.rejects(quick.sleep(3000), (e) => e instanceof wirecall.Timeout || e instanceof wirecall.DeadlineExceeded);
  assert.equal(await quick.add(2, 3), 5);
});

test("an AbortSignal cancels a call; the device is told and the session carries on", async (t) => {
  const { dev } = await demoClient(t);
  const abort = new AbortController();
  const slow = dev.with({ signal: abort.signal }).sleep(10000);
  const cancels = dev.stats().cancels_sent;
  setImmediate(() => abort.abort());
  await assert.rejects(slow, wirecall.Cancelled);
  assert.equal(dev.stats().cancels_sent, cancels + 1);
  assert.equal(await dev.add(20, 22), 42);
  // An already aborted signal sends nothing.
  await assert.rejects(dev.with({ signal: abort.signal }).add(1, 2), wirecall.Cancelled);
});

test("a server stream arrives in order, and leaving the loop early cancels it", async (t) => {
  const { dev } = await demoClient(t);
  const items = [];
  const stream = dev.count(50);
  for await (const x of stream) items.push(x);
  assert.deepEqual(items, Array.from({ length: 50 }, (_, i) => i));
  assert.equal(await stream.result, null);

  const cancels = dev.stats().cancels_sent;
  const early = [];
  for await (const x of dev.count(100000)) {
    early.push(x);
    if (early.length === 3) break;
  }
  assert.deepEqual(early, [0, 1, 2]);
  assert.equal(dev.stats().cancels_sent, cancels + 1, "the device was told to stop");
  assert.equal(await dev.add(1, 2), 3);
});

test("many calls at once: more than the calls in flight wait their turn, every answer is right", async (t) => {
  const { dev } = await demoClient(t);
  const n = 500;
  const results = await Promise.all(Array.from({ length: n }, (_, i) => dev.add(i, 1000)));
  assert.deepEqual(results, Array.from({ length: n }, (_, i) => i + 1000));
  assert.ok(dev.peer.calls.size === 0);
});

test("a server that goes away fails the calls in flight with ConnectionLost", async (t) => {
  const { dev, server } = await demoClient(t);
  const pending = dev.sleep(10000);
  const failed = assert.rejects(pending, wirecall.ConnectionLost);
  await dev.add(1, 1); // the sleep is in flight
  await stop(server);
  await failed;
  await assert.rejects(dev.add(1, 2), wirecall.ConnectionLost);
});

test("links: a Unix socket, a child process's stdio", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "demo.sock");
  await serveDemo(t, "--unix", path);
  const overUnix = await wirecall.connect(`unix://${path}`);
  assert.equal(await overUnix.add(2, 3), 5);
  await overUnix.close();

  const overExec = await wirecall.connect(`exec:${WIRECALL} serve --stdio`);
  assert.equal(await overExec.add(4, 5), 9);
  assert.deepEqual(await overExec.count(3).toArray(), [0, 1, 2]);
  const child = overExec.peer.link;
  await overExec.close();
  assert.ok(child.ended);
});

test("a serial line: the client on one end of a socat pty pair, the server on the other", async (t) => {
  if (!onPath("socat")) {
    if (process.env.WIRECALL_REQUIRE_FIRMWARE === "1") throw new Error("socat missing");
    return t.skip("socat missing");
  }
  try {
    await import("serialport");
  } catch {
    if (process.env.WIRECALL_REQUIRE_FIRMWARE === "1") throw new Error("the serialport package is missing (npm install in js/)");
    return t.skip("the serialport package is missing");
  }
  const dir = tempDir(t);
  const [a, b] = [join(dir, "a"), join(dir, "b")];
  await start(t, "socat", ["-d", "-d", `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], /starting data transfer loop/);
  await serveDemo(t, "--serial", a, "--baud", "115200");
  const dev = await wirecall.connect(`serial://${b}?baud=115200`);
  t.after(() => dev.close());
  assert.equal(await dev.add(2, 40), 42);
  assert.deepEqual(await dev.count(10).toArray(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test("link errors say what was tried; a wrong schema is refused at connect", async (t) => {
  await assert.rejects(wirecall.connect("tcp://127.0.0.1:1"), (e) => e instanceof wirecall.LinkError && /connection refused/.test(e.message));
  await assert.rejects(wirecall.connect("tcp://127.0.0.1"), /no port/);
  await assert.rejects(wirecall.connect("ftp://x"), /expected tcp:/);
  await assert.rejects(wirecall.connect("serial:///dev/ttyUSB0?baud=fast"), /baud fast/);
  const { address } = await serveDemo(t, "--tcp", "127.0.0.1:0");
  await assert.rejects(wirecall.connect(`tcp://${address.replace(/^tcp /, "")}`, { expectSchema: 1 }), wirecall.IncompatibleSchema);
  await assert.rejects(wirecall.connect(`tcp://${address.replace(/^tcp /, "")}`, { maxFrame: 10 }), /maxFrame/);
});
