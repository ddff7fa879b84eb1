// wirecall/nats against a real bus: nats-server, the Rust demo server and wirecall-gateway
// between them. Discovery, calls, errors, deadlines, streams and cancellation, each checked
// on the bus itself where it can be: a second NATS connection (the spy) subscribes to the
// subjects a call uses and sees its requests, their headers, the cancels and the gateway's
// answers. Skipped (saying why) without nats-server, the gateway binary or the nats
// package, unless WIRECALL_REQUIRE_NATS=1 (as ./ci.sh sets).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
// The error classes straight from their module: no WebAssembly is needed on this path.
import * as wirecall from "../src/errors.js";
import { EVENT_MS, natsMissing, spyOn, startBus } from "./support/nats-bus.js";

const skip = (await natsMissing()) ?? false;
const nats = skip ? null : await import("wirecall/nats");

/** The demo service's schema hash (tests/src/demo.rs). */
const DEMO_SCHEMA = 0x1BDF1C4B;

// One bus for the file: nats-server, the demo server and the gateway, stopped by pid after
// the last test.
const stops = [];
let url = null;
before(async () => {
  if (!skip) url = await startBus({ after: (stop) => stops.push(stop) });
});
after(async () => {
  for (const stop of stops.reverse()) await stop();
});

/** Asks the gateway's `$SRV.STATS` until the device has `count` calls in flight through it,
 * for at most EVENT_MS (each answer is an event: no fixed sleep). */
async function waitForInFlight(spy, count) {
  const end = performance.now() + EVENT_MS;
  for (;;) {
    const { data } = await spy.stats("wirecall.demo.sleep");
    if (data.in_flight === count) return;
    if (performance.now() > end) assert.fail(`the device still has ${data.in_flight} calls in flight, not ${count}, after ${EVENT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20)); // between two questions
  }
}

/** A wirecall/nats client of the bus, and a spy. */
async function setup(t, options = {}) {
  const bus = await nats.connectNats(url, options);
  t.after(() => bus.close());
  const spy = await spyOn(t, url);
  return { bus, spy, dev: bus.device("demo") };
}

test("discovery lists the demo device with its procedures", { skip }, async (t) => {
  const { bus } = await setup(t);
  const started = performance.now();
  const devices = await bus.devices({ timeoutMs: 2 * EVENT_MS });
  const took = performance.now() - started;
  assert.deepEqual(devices.map((d) => d.id), ["demo"]);
  const [demo] = devices;
  assert.equal(demo.service, "demo");
  assert.equal(demo.schema, DEMO_SCHEMA);
  assert.match(demo.link, /^tcp/);
  assert.equal(demo.gateways.length, 1);
  const add = demo.procedures.find((p) => p.name === "add");
  assert.deepEqual(add, { name: "add", subject: "wirecall.demo.add", signature: "add(a: i32, b: i32) -> i32", mode: "call", procedureId: 0 });
  // The gather ended on its quiet window after the answer, not on its bound (2 * EVENT_MS).
  assert.ok(took < EVENT_MS, `${took} ms`);
  assert.equal((await bus.device("demo").info()).schema, DEMO_SCHEMA);
  assert.equal(await bus.device("nobody").info(), null);
});

test("calls by method and by name", { skip }, async (t) => {
  const { dev } = await setup(t);
  assert.equal(await dev.add(2, 40), 42);
  assert.equal(await dev.add({ a: -7, b: 5 }), -2);
  assert.equal(await dev.add([1, 2]), 3);
  assert.equal(await dev.call("add", 2, 40), 42);
  assert.equal(await dev.echo(new Uint8Array([104, 105])), "hi");
  assert.equal(await dev.sleep(1), null);
  // Calls at once (fewer than the 32 the device takes), each answered to its own reply subject.
  const sums = await Promise.all(Array.from({ length: 20 }, (_, i) => dev.add(i, i)));
  assert.deepEqual(sums, Array.from({ length: 20 }, (_, i) => 2 * i));
});

test("a device at its limit answers Busy at once", { skip }, async (t) => {
  const { spy, dev } = await setup(t);
  // The calls of the tests before have all been answered, but the gateway may drop their
  // tickets a moment later: start from none, or one of the 32 sleeps would be refused.
  await waitForInFlight(spy, 0);
  // The gateway takes as many calls per device as the device does (32): fill them.
  const sleeps = Array.from({ length: 32 }, () => dev.with({ timeoutMs: 30000 }).sleep(6000));
  let done = false;
  const all = Promise.all(sleeps).finally(() => { done = true; });
  // All 32 hold their slots in the gateway (the spy seeing the requests would not say so:
  // an `add` sent then could take a slot before the last sleep). Until the sleeps end
  // (6 s), one more call is refused at once.
  await waitForInFlight(spy, 32);
  let busy = null;
  while (busy === null && !done) {
    try {
      await dev.add(1, 2);
    } catch (e) {
      if (!(e instanceof wirecall.Busy)) throw e;
      busy = e;
    }
  }
  assert.ok(busy, "no call was refused Busy while 32 were in flight");
  assert.equal(busy.message, "the device answered: busy: device demo has as many calls in flight as it takes");
  assert.deepEqual(await all, Array(32).fill(null));
});

test("closing the bus fails the calls still waiting and cancels them", { skip }, async (t) => {
  const { bus, spy, dev } = await setup(t);
  if (!(await needsStreams(t, bus))) return;
  const requests = await spy.watch("wirecall.demo.*");
  const cancels = await spy.watch("wirecall.demo.*.cancel");
  // A call and a stream still waiting: without their cancels the device would hold their
  // slots for a minute (the sleep) and a billion items.
  const long = dev.with({ timeoutMs: 120000 });
  const call = long.sleep(60000).then(() => "resolved", (e) => e);
  const stream = long.stream("count", 1000000000);
  assert.deepEqual(await stream.next(), { value: 0, done: false });
  const replies = new Set([(await requests.next()).reply, (await requests.next()).reply]);
  await waitForInFlight(spy, 2);
  const started = performance.now();
  await bus.close();
  const outcome = await call;
  assert.ok(outcome instanceof wirecall.ConnectionLost && /closed/.test(outcome.message), String(outcome));
  await assert.rejects(async () => { for await (const _ of stream) void _; },
    (e) => e instanceof wirecall.ConnectionLost && /closed/.test(e.message));
  assert.ok(performance.now() - started < EVENT_MS);
  const cancelled = new Set();
  for (let i = 0; i < 2; i++) cancelled.add(new TextDecoder().decode((await cancels.next()).data));
  assert.deepEqual(cancelled, replies);
  // The device stopped both (the gateway answered 499), long before the sleep's minute.
  await waitForInFlight(spy, 0);
});

test("a connection's inbox prefix is the prefix of the bus's reply subjects", { skip }, async (t) => {
  const { bus, spy } = await setup(t, { inboxPrefix: "_INBOX_wirecall_test" });
  const requests = await spy.watch("wirecall.demo.add");
  assert.equal(await bus.device("demo").add(2, 40), 42);
  assert.match((await requests.next()).reply, /^_INBOX_wirecall_test\./);
  // And on a connection of the caller's.
  const { connect } = await import("nats");
  const nc = await connect({ servers: url, inboxPrefix: "_INBOX_wirecall_own" });
  t.after(() => nc.close());
  const over = await nats.busOver(nc);
  assert.equal(await over.device("demo").add(1, 2), 3);
  assert.match((await requests.next()).reply, /^_INBOX_wirecall_own\./);
  await over.close();
});

test("every call sends its timeout to the gateway", { skip }, async (t) => {
  const { bus, spy, dev } = await setup(t);
  const requests = await spy.watch("wirecall.demo.add");
  assert.equal(await dev.add(1, 2), 3);
  assert.equal(await dev.with({ timeoutMs: 1500 }).add(1, 2), 3);
  assert.equal(await bus.call("demo", "add", [1, 2], { timeoutMs: 250 }), 3);
  const sent = [];
  for (let i = 0; i < 3; i++) sent.push((await requests.next()).headers.get("Wirecall-Timeout-Ms"));
  assert.deepEqual(sent, ["5000", "1500", "250"]);
});

test("errors are the package's error classes", { skip }, async (t) => {
  const { bus, dev } = await setup(t);
  for (const bad of [["two", 40], [1, 2, 3]]) {
    await assert.rejects(dev.add(...bad), (e) => e instanceof wirecall.RemoteError
      && e.code === wirecall.ErrorCode.BadArguments && e.message.includes("add(a: i32, b: i32) -> i32"));
  }
  await assert.rejects(dev.fail(), (e) => e instanceof wirecall.RemoteError && e.code === wirecall.ErrorCode.Internal);
  await assert.rejects(bus.device("nobody").add(1, 2),
    (e) => e instanceof nats.NoGateway && e instanceof wirecall.ConnectionLost && /no gateway serves device nobody/.test(e.message));
  await assert.rejects(dev.subtract(1, 2), (e) => e instanceof wirecall.RemoteError
    && e.code === wirecall.ErrorCode.UnknownProcedure && /has no procedure subtract .*add/.test(e.message));
  assert.throws(() => bus.device("a.b"), /bad device id/);
  await assert.rejects(dev.call("x.y"), /bad procedure name/);
  assert.equal(await dev.add(20, 22), 42, "the device carries on");
});

test("a deadline ends the call on the device", { skip }, async (t) => {
  const { dev } = await setup(t);
  const started = performance.now();
  await assert.rejects(dev.with({ timeoutMs: 300 }).sleep(60000), wirecall.DeadlineExceeded);
  const took = performance.now() - started;
  // The gateway's 504 at the deadline, long before the sleep's minute.
  assert.ok(took >= 250 && took < EVENT_MS, `${took} ms`);
  assert.equal(await dev.add(1, 1), 2);
});

test("no answer in time: the caller gives up and sends the cancel", { skip }, async (t) => {
  // The spy takes the request and stays silent, as a gateway killed mid-call would.
  const { bus, spy } = await setup(t);
  const requests = await spy.watch("wirecall.silent.add");
  const cancels = await spy.watch("wirecall.silent.add.cancel");
  const started = performance.now();
  await assert.rejects(bus.device("silent", { timeoutMs: 200 }).add(1, 2), (e) => e instanceof wirecall.Timeout && /no answer/.test(e.message));
  const took = performance.now() - started;
  // Not before the timeout and its grace; and it does give up (nothing else would end it).
  assert.ok(took >= 200 + nats.GRACE_MS - 50 && took < 200 + nats.GRACE_MS + EVENT_MS, `${took} ms`);
  const request = await requests.next();
  const cancel = await cancels.next();
  assert.equal(new TextDecoder().decode(cancel.data), request.reply);
});

test("an AbortSignal cancels a call: the gateway is sent the cancel", { skip }, async (t) => {
  const { spy, dev } = await setup(t);
  const requests = await spy.watch("wirecall.demo.sleep");
  const cancels = await spy.watch("wirecall.demo.sleep.cancel");
  const abort = new AbortController();
  const call = dev.with({ signal: abort.signal, timeoutMs: 120000 }).sleep(60000);
  const settled = call.then(() => "resolved", (e) => e);
  const request = await requests.next();
  const started = performance.now();
  abort.abort();
  const outcome = await settled;
  assert.ok(outcome instanceof wirecall.Cancelled, String(outcome));
  assert.ok(performance.now() - started < EVENT_MS);
  const cancel = await cancels.next();
  assert.equal(new TextDecoder().decode(cancel.data), request.reply);
  // An already aborted signal sends nothing.
  await assert.rejects(dev.with({ signal: abort.signal }).add(1, 2), wirecall.Cancelled);
});

test("the gateway ends a cancelled call with 499", { skip }, async (t) => {
  const { bus, spy, dev } = await setup(t);
  if (!(await needsStreams(t, bus))) return; // the cancel subject came with the streams
  const requests = await spy.watch("wirecall.demo.sleep");
  const abort = new AbortController();
  const settled = dev.with({ signal: abort.signal, timeoutMs: 120000 }).sleep(60000).then(() => "resolved", (e) => e);
  const request = await requests.next();
  // From now on the spy sees what the gateway answers to the call's reply subject.
  const answers = await spy.watch(request.reply);
  const started = performance.now();
  abort.abort();
  assert.ok((await settled) instanceof wirecall.Cancelled);
  const answer = await finalAnswer(answers);
  assert.equal(answer.headers.get("Nats-Service-Error-Code"), "499");
  // Long before the sleep's minute.
  assert.ok(performance.now() - started < EVENT_MS);
});

test("streams follow the contract (a scripted responder)", { skip }, async (t) => {
  // The stream side of docs/NATS.md against a responder on the spy's connection (device
  // "scripted"): numbered items, the end with their count, an error as the last message,
  // and an item lost on the way (as core NATS drops them for a slow consumer).
  const { bus, spy } = await setup(t);
  const { headers } = await import("nats");
  const encoder = new TextEncoder();
  spy.nc.subscribe("wirecall.scripted.count", {
    callback: (_, msg) => {
      const [n, skipped, ending] = JSON.parse(new TextDecoder().decode(msg.data));
      for (let i = 0; i < n; i++) {
        const h = headers();
        h.set("Wirecall-Item", String(i + 1));
        if (i + 1 !== skipped) spy.nc.publish(msg.reply, encoder.encode(String(i * 10)), { headers: h });
      }
      const h = headers();
      if (ending === true) {
        h.set("Nats-Service-Error", "device scripted: it broke");
        h.set("Nats-Service-Error-Code", "500");
      } else if (ending === "no code") {
        h.set("Nats-Service-Error", "device scripted: no code");
      } else {
        h.set("Wirecall-End", ending === false ? String(n) : ending);
      }
      spy.nc.publish(msg.reply, new Uint8Array(0), { headers: h });
    },
  });
  spy.nc.subscribe("wirecall.scripted.add", {
    callback: (_, msg) => {
      const h = headers();
      h.set("Nats-Service-Error", "device scripted: no code");
      spy.nc.publish(msg.reply, new Uint8Array(0), { headers: h });
    },
  });
  await spy.nc.flush();
  const dev = bus.device("scripted");
  const stream = dev.stream("count", 4, 0, false);
  assert.deepEqual(await stream.toArray(), [0, 10, 20, 30]);
  assert.equal(stream.count, 4);
  assert.equal(await stream.result, null);
  let seen = [];
  await assert.rejects(async () => { for await (const x of dev.count(2, 0, true)) seen.push(x); },
    (e) => e instanceof wirecall.RemoteError && e.code === wirecall.ErrorCode.Internal && /it broke/.test(e.message));
  assert.deepEqual(seen, [0, 10]);
  seen = [];
  await assert.rejects(async () => { for await (const x of dev.count(3, 2, false)) seen.push(x); }, /item 2 was lost/);
  assert.deepEqual(seen, [0]);
  // An error without its code is 500, as the CLI reads it: a failure, not a result.
  const internal = (e) => e instanceof wirecall.RemoteError && e.code === wirecall.ErrorCode.Internal && /no code/.test(e.message);
  await assert.rejects(async () => { for await (const _ of dev.count(1, 0, "no code")) void _; }, internal);
  await assert.rejects(dev.add(1, 2), internal);
  // An end that is no number.
  await assert.rejects(async () => { for await (const _ of dev.count(1, 0, "many")) void _; }, /"many" items, not a number/);
});

test("a stream yields all its items", { skip }, async (t) => {
  const { bus, dev } = await setup(t);
  if (!(await needsStreams(t, bus))) return;
  const items = [];
  for await (const x of dev.count(5)) items.push(x);
  assert.deepEqual(items, [0, 1, 2, 3, 4]);
  const stream = dev.stream("count", 300);
  assert.deepEqual(await stream.toArray(), Array.from({ length: 300 }, (_, i) => i));
  assert.equal(stream.count, 300);
  assert.equal(await stream.result, null);
  assert.deepEqual(await dev.stream("count", 0).toArray(), []);
  // A call and a stream each say which they are when used as the other.
  await assert.rejects(dev.count(5), /count is a server stream/);
  await assert.rejects(async () => { for await (const _ of dev.add(1, 2)) void _; }, /add is not a server stream/);
  await assert.rejects(async () => { for await (const _ of dev.count("many")) void _; }, wirecall.RemoteError);
  await assert.rejects(async () => { for await (const _ of bus.device("nobody").count(5)) void _; }, nats.NoGateway);
});

/** The cancel went out naming the stream's reply subject, and the gateway then ended the
 * stream with 499 (not with its end, a billion items later). */
async function endedByCancel(request, cancels, answers) {
  const cancel = await cancels.next();
  assert.equal(new TextDecoder().decode(cancel.data), request.reply);
  const final = await finalAnswer(answers);
  assert.equal(final.headers.get("Nats-Service-Error-Code"), "499");
}

test("leaving a stream early, aborting it or its timeout sends the cancel", { skip }, async (t) => {
  const { bus, spy, dev } = await setup(t);
  if (!(await needsStreams(t, bus))) return;
  const requests = await spy.watch("wirecall.demo.count");
  const cancels = await spy.watch("wirecall.demo.count.cancel");
  let request, answers;

  // Streams far longer than any test, with deadlines far beyond it: only the cancel ends them.
  const long = dev.with({ timeoutMs: 120000 });

  // `break`: the loop calls the stream's return().
  for await (const x of long.count(1000000000)) {
    if (x === 0) {
      request = await requests.next();
      // From now on the spy sees what the gateway sends to the stream's reply subject.
      answers = await spy.watch(request.reply);
    }
    if (x === 2) break;
  }
  await endedByCancel(request, cancels, answers);

  // An AbortSignal.
  const abort = new AbortController();
  await assert.rejects(async () => {
    for await (const x of long.with({ signal: abort.signal }).count(1000000000)) {
      if (x === 0) {
        request = await requests.next();
        answers = await spy.watch(request.reply);
      }
      if (x === 2) abort.abort();
    }
  }, wirecall.Cancelled);
  await endedByCancel(request, cancels, answers);

  // Its own deadline, long before its end: the gateway ends it with 504, a stream that was
  // running (not one that never started), and ends it on the device too.
  const started = performance.now();
  let items = 0;
  await assert.rejects(async () => {
    for await (const _ of dev.with({ timeoutMs: 300 }).count(1000000)) items += 1;
  }, wirecall.DeadlineExceeded);
  assert.ok(items > 0);
  assert.ok(performance.now() - started < EVENT_MS, `${performance.now() - started} ms`);
  await waitForInFlight(spy, 0);
});

/** The first message on a reply subject that is no stream item (the call's one answer,
 * or a stream's last message). */
async function finalAnswer(answers) {
  for (;;) {
    const msg = await answers.next();
    if (!msg.headers?.has("Wirecall-Item")) return msg;
  }
}

/** Whether the gateway serves server streams (the demo device's `count` has an endpoint);
 * else skips `t`, or fails it under WIRECALL_REQUIRE_NATS=1. */
async function needsStreams(t, bus) {
  const devices = await bus.devices();
  const count = devices.find((d) => d.id === "demo")?.procedures.find((p) => p.name === "count");
  if (count?.mode === "server_stream") return true;
  if (process.env.WIRECALL_REQUIRE_NATS === "1") assert.fail("needs gateway streams: the demo device's count has no stream endpoint");
  t.skip("needs gateway streams");
  return false;
}
