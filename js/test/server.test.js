// The Node client against the Node server: in one process over TCP (so the tests can see
// what the handlers see), and as a child process over its stdio (examples/server.js).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Busy, Cancelled, ConnectionLost, ErrorCode, RemoteError, Service, StreamLink, Timeout, connect, listen, serve,
} from "wirecall";
import { EXAMPLE, event, run } from "./support/commands.js";

/** What the handlers of the probe service report to the tests. */
const seen = {
  started: event(), aborted: event(), produced: 0, finallyRan: event(), release: event(),
  stubborn: 0, errors: [], contexts: [],
};

function reset(name) {
  seen[name] = event();
}

const probe = new Service("probe")
  .expose("add", { params: { a: "i32", b: "i32" }, output: "i32" }, (a, b) => a + b)
  .expose("divide", { params: { a: "i32", b: "i32" }, output: "i32" }, (a, b) => {
    if (b === 0) throw new RemoteError(ErrorCode.BadArguments, "b must not be 0");
    return Math.trunc(a / b);
  })
  .expose("boom", {}, () => {
    throw new Error("the handler broke");
  })
  .expose("plain", {}, () => {
    throw { code: "Revoked", detail: "a plain object" };
  })
  .expose("wrong", { output: "u8" }, () => 300)
  .expose("later", { params: { x: "u32" }, output: "u32" }, async (x) => {
    await Promise.resolve();
    return x + 1;
  })
  .expose("wait", {}, function () {
    // Waits for its request to end, and reports how (this: the context).
    seen.contexts.push(this);
    seen.started.resolve();
    return new Promise((_, reject) => {
      this.signal.addEventListener("abort", () => {
        seen.aborted.resolve(this.signal.reason);
        reject(this.signal.reason);
      }, { once: true });
    });
  })
  .expose("stubborn", {}, async () => {
    // Ignores its signal: runs until the test releases it.
    seen.stubborn++;
    seen.started.resolve();
    await seen.release.promise;
  })
  .expose("bytes", { params: { data: "Vec<u8>", pairs: "Vec<(u8, Vec<u8, 4>)>" }, output: "Vec<u8>" }, (data, pairs) => {
    assert.ok(data instanceof Uint8Array && pairs[0][1] instanceof Uint8Array);
    return Uint8Array.from([...data, ...pairs.flatMap(([a, b]) => [a, ...b])]);
  })
  .expose("big", { params: { x: "u64" }, output: "u64" }, (x) => BigInt(x) * 2n)
  .expose("huge", { output: "Vec<u8, 2048>" }, () => new Uint8Array(2000).fill(1))
  .expose("numbers", { params: { n: "u32" }, item: "u32", output: "String" }, function* (n) {
    try {
      for (let i = 0; i < n; i++) {
        seen.produced = i + 1;
        yield i;
      }
      return `${n} numbers`;
    } finally {
      seen.finallyRan.resolve();
    }
  })
  .expose("halfway", { params: { n: "u32" }, item: "u32" }, async function* (n) {
    for (let i = 0; i < n; i++) yield i;
    throw new RemoteError(ErrorCode.Internal, "stopped halfway");
  })
  .expose("notiter", { item: "u32" }, () => 5)
  .expose("sum", { in_item: "u32", output: "u64" }, async (items, context) => {
    assert.equal(context.procedure, "sum");
    let s = 0;
    for await (const x of items) s += x;
    return s;
  })
  .expose("lengths", { in_item: "Vec<u8>", item: "u32" }, async function* (items) {
    for await (const b of items) yield b.length;
  })
  .expose("first", { in_item: "u32", output: "u32" }, async (items) => {
    for await (const x of items) return x; // leaves the loop: the rest are dropped
    return 0;
  });

let listener;
let device;
before(async () => {
  listener = await listen("tcp://127.0.0.1:0", probe, { maxCalls: 4, onError: (e, name) => seen.errors.push([name, e.message]) });
  device = await connect(listener.url, { streamWindow: 4 });
});
after(async () => {
  seen.release.resolve();
  await device?.close();
  await listener?.close();
});

test("calls answer with their results, sync and async handlers alike", async () => {
  assert.equal(await device.add(2, 3), 5);
  assert.equal(await device.call("add", { a: -2, b: 3 }), 1);
  assert.equal(await device.later(41), 42);
  assert.equal(await device.big(2n ** 60n), 2n ** 61n);
});

test("bytes reach a handler as Uint8Arrays, nested ones too", async () => {
  assert.equal(await device.bytes("ab", [[3, [4, 5]]]), "0x6162030405");
});

test("a thrown RemoteError answers its code and detail", async () => {
  await assert.rejects(device.divide(1, 0), (e) => e instanceof RemoteError && e.code === ErrorCode.BadArguments && e.detail === "b must not be 0");
  await assert.rejects(device.plain(), (e) => e.code === ErrorCode.Revoked && e.detail === "a plain object");
});

test("any other exception answers Internal with its message, and onError hears of it", async () => {
  await assert.rejects(device.boom(), (e) => e.code === ErrorCode.Internal && e.detail === "the handler broke");
  assert.deepEqual(seen.errors.at(-1), ["boom", "the handler broke"]);
});

test("an output that does not fit its type answers Internal with the codec's message", async () => {
  await assert.rejects(device.wrong(), (e) => e.code === ErrorCode.Internal && /does not fit its type: wrong: 300 does not fit u8/.test(e.detail));
});

test("undecodable arguments, an unknown procedure and a wrong mode are answered explicitly", async () => {
  const id = (name) => device.procedures.find((p) => p.name === name).id;
  await assert.rejects(device.peer.call(id("add"), Uint8Array.of(2)), (e) => e.code === ErrorCode.BadArguments && /^add: expected i32 at b/.test(e.detail));
  await assert.rejects(device.peer.call(999, new Uint8Array()), (e) => e.code === ErrorCode.UnknownProcedure && /^no procedure 999; this service has 0 = add, 1 = divide/.test(e.detail));
  await assert.rejects(device.peer.call(id("numbers"), Uint8Array.of(1)), (e) => e.code === ErrorCode.BadArguments && e.detail === "numbers is a server stream: open it as one");
});

test("a result beyond the caller's frame size answers TooLarge", async () => {
  const small = await connect(listener.url, { maxFrame: 512 });
  try {
    await assert.rejects(small.huge(), (e) => e.code === ErrorCode.TooLarge && /the result of huge/.test(e.detail));
    assert.equal(await small.add(1, 1), 2, "the session goes on");
  } finally {
    await small.close();
  }
});

test("a server stream sends its items and its generator's return value", async () => {
  const stream = device.numbers(10);
  assert.deepEqual(await stream.toArray(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(await stream.result, "10 numbers");
});

test("a stream's handler that throws midway ends the stream with its error", async () => {
  const stream = device.halfway(3);
  const got = [];
  await assert.rejects((async () => { for await (const x of stream) got.push(x); })(), (e) => e.detail === "stopped halfway");
  assert.deepEqual(got, [0, 1, 2]);
  await assert.rejects(device.notiter().toArray(), (e) => e.code === ErrorCode.Internal && /returns an iterable/.test(e.detail));
});

test("a slow consumer holds the producer back: never more than the window ahead", async () => {
  const window = 4; // the client's streamWindow
  seen.produced = 0;
  let consumed = 0;
  for await (const x of device.numbers(40)) {
    assert.equal(x, consumed);
    consumed++;
    // A round trip on the same session: the server has handled everything sent before
    // it, so the producer has run as far ahead as its credit lets it.
    await device.add(0, 0);
    assert.ok(seen.produced - consumed <= window + 1, `produced ${seen.produced}, consumed ${consumed}`);
  }
  assert.equal(consumed, 40);
});

test("leaving a stream early cancels it: the generator's finally block runs", async () => {
  reset("finallyRan");
  for await (const x of device.numbers(1000000)) if (x === 2) break;
  await seen.finallyRan.promise;
  assert.ok(seen.produced < 1000);
});

test("a client stream's handler gets the items as an async iterable", async () => {
  const items = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(await device.sum(items), 5050);
  async function* slowly() {
    for (const x of [1, 2, 3]) {
      await Promise.resolve();
      yield x;
    }
  }
  assert.equal(await device.sum(slowly()), 6);
  assert.equal(await device.first([7, 8, 9]), 7, "a handler may stop reading early");
});

test("a bidirectional stream answers each item", async () => {
  const stream = device.lengths(["a", "bb", Uint8Array.of(1, 2, 3)]);
  assert.deepEqual(await stream.toArray(), [1, 2, 3]);
});

test("cancelling a call aborts its handler's signal with Cancelled", async () => {
  reset("started");
  reset("aborted");
  const controller = new AbortController();
  const call = device.with({ signal: controller.signal }).wait();
  await seen.started.promise;
  const context = seen.contexts.at(-1);
  assert.equal(context.procedure, "wait");
  assert.equal(context.peer.maxFrame, 4096);
  controller.abort();
  await assert.rejects(call, Cancelled);
  assert.ok((await seen.aborted.promise) instanceof Cancelled);
});

test("a call's deadline aborts its handler's signal, and the caller gets Timeout", async () => {
  reset("started");
  reset("aborted");
  const call = device.with({ timeoutMs: 150 }).wait();
  await seen.started.promise;
  await assert.rejects(call, Timeout);
  const reason = await seen.aborted.promise;
  assert.ok(reason instanceof Timeout || reason instanceof Cancelled, String(reason));
});

test("a lost connection aborts the handler's signal with ConnectionLost", async () => {
  reset("started");
  reset("aborted");
  const other = await connect(listener.url);
  const call = other.wait();
  await seen.started.promise;
  await other.close();
  await assert.rejects(call, ConnectionLost);
  assert.ok((await seen.aborted.promise) instanceof ConnectionLost);
});

test("handlers that outlive their cancelled calls count: one past maxCalls is Busy", async () => {
  const other = await connect(listener.url);
  const controllers = [];
  const calls = [];
  try {
    for (let i = 0; i < 4; i++) {
      reset("started");
      const controller = new AbortController();
      controllers.push(controller);
      calls.push(other.with({ signal: controller.signal }).stubborn().catch((e) => e));
      await seen.started.promise;
    }
    for (const c of controllers) c.abort();
    for (const e of await Promise.all(calls)) assert.ok(e instanceof Cancelled);
    // Every request ended, but the four handlers still run.
    await assert.rejects(other.add(1, 2), (e) => e instanceof Busy && /4 calls are being served/.test(e.detail));
    seen.release.resolve();
    // Once they return, calls are served again (a round trip lets them finish).
    for (;;) {
      try {
        assert.equal(await other.add(1, 2), 3);
        break;
      } catch (e) {
        if (!(e instanceof Busy)) throw e;
      }
    }
  } finally {
    await other.close();
  }
});

test("the example server, as a child process: calls, streams and errors", async () => {
  const calc = await connect(`exec:${EXAMPLE}`);
  try {
    assert.equal(calc.schemaHash, 0x3d9291fd);
    assert.equal(await calc.add(2, 3), 5);
    await assert.rejects(calc.add(2 ** 31 - 1, 1), (e) => e.code === ErrorCode.BadArguments);
    assert.equal(await calc.checksum([1, 2, 3, 250]), 256);
    assert.deepEqual(await calc.upto(5).toArray(), [0, 1, 2, 3, 4]);
    assert.equal(await calc.total([1, 2, 3]), 6);
    assert.deepEqual(await calc.scale(3, [1, 2, 3]).toArray(), [3, 6, 9]);
    assert.equal(await calc.hits(), 6);
    assert.equal(await calc.reset(), null);
  } finally {
    await calc.close();
  }
});

test("listen on a Unix socket: a stale socket is replaced, close removes it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wirecall-unix-"));
  try {
    const path = join(dir, "calc.sock");
    const first = await listen(`unix:${path}`, probe);
    assert.equal(first.url, `unix://${path}`);
    await assert.rejects(listen(`unix:${path}`, probe), /a server is listening there/);
    const client = await connect(first.url);
    assert.equal(await client.add(1, 2), 3);
    await client.close();
    await first.close();
    assert.ok(!existsSync(path));
    // A socket file nobody listens on (its server was killed) is taken over.
    const died = await run("node", ["-e", "require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))", path]);
    assert.equal(died.code, null);
    assert.ok(statSync(path).isSocket());
    const second = await listen(`unix:${path}`, probe);
    await second.close();
    // Anything else there is not ours to remove.
    writeFileSync(path, "");
    await assert.rejects(listen(`unix:${path}`, probe), /it exists and is not a socket/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("serve() on any link ends when its signal aborts", async () => {
  const controller = new AbortController();
  let ended = null;
  const server = net.createServer((socket) => {
    ended = serve(new StreamLink("test", socket, socket, () => socket.destroy()), probe, { signal: controller.signal });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    const client = await connect(`tcp://127.0.0.1:${server.address().port}`);
    assert.equal(await client.add(2, 2), 4);
    controller.abort();
    assert.equal(await ended, null);
    await assert.rejects(client.add(1, 1), ConnectionLost);
    await client.close();
  } finally {
    server.close();
  }
});
