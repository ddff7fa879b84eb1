// The Web Serial link against a fake SerialPort (test/support/fake-serial.js) with a device
// served by this process on its far side: reading goes on after line errors, on the new
// stream Chromium makes, and only a lost device closes the link and fails the calls.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionLost, LinkError, Peer } from "../src/node.js";
import { connectSerial, webSerialLink } from "../src/links/web.js";
import { FakeSerialPort } from "./support/fake-serial.js";
import { MemoryLink } from "./support/memory-link.js";
import { serveTestDevice } from "./support/js-device.js";

/** A fake port with the test device on its far end. */
function portWithDevice() {
  const port = new FakeSerialPort();
  const deviceLink = new MemoryLink("device", (bytes) => {
    if (port.isOpen) port.deliver(bytes);
  });
  port.onWrite = (bytes) => deviceLink.data(bytes);
  const devicePeer = serveTestDevice(deviceLink);
  return { port, devicePeer };
}

/** A promise of the next call of a callback, and the callback. */
function nextCall() {
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  return { promise, fn: (...args) => resolve(args) };
}

test("reading goes on after line errors, on the stream that replaces the errored one", async () => {
  const { port, devicePeer } = portWithDevice();
  let reopened = nextCall();
  const dev = await connectSerial(port, { baud: 9600, onReopen: (...a) => reopened.fn(...a) });
  try {
    assert.equal(port.baudRate, 9600);
    assert.equal(await dev.add(2, 40), 42);

    // A framing error between calls: the link takes the new stream and calls go on.
    port.lineError("FramingError");
    const [error, count] = await reopened.promise;
    assert.equal(error.name, "FramingError");
    assert.equal(count, 1);
    assert.equal(dev.peer.link.reopenCount, 1);
    assert.equal(await dev.add(1, 2), 3);

    // A break while a call is in flight: its reply comes on the next stream.
    reopened = nextCall();
    const pending = dev.add(20, 22);
    port.lineError("BreakError");
    await reopened.promise;
    assert.equal(await pending, 42);
    assert.equal(dev.peer.link.reopenCount, 2);
    assert.equal(port.streamsMade, 3);
    assert.equal(dev.peer.closed, false);
  } finally {
    await dev.close();
    devicePeer.close();
  }
  // Closing the device released both streams and closed the port.
  await waitFor(() => port.closed === 1);
});

test("a lost device closes the link: the Peer fails its calls", async () => {
  for (const quietly of [false, true]) {
    const { port, devicePeer } = portWithDevice();
    const dev = await connectSerial(port);
    assert.equal(await dev.add(1, 1), 2);
    const sessions = [];
    dev.peer.onSession((info, error) => sessions.push([info, error]));
    const hung = dev.call("hang");
    // hang's request reached the device (it is pending there) before the plug is pulled.
    await waitFor(() => devicePeer.requests.size === 1);
    port.unplug({ quietly });
    await assert.rejects(hung, (e) => e instanceof ConnectionLost && /lost|disconnected|NetworkError/.test(e.message));
    const why = await dev.peer.done();
    assert.ok(why instanceof ConnectionLost, `closed with ${why}`);
    // A page watching the session hears that it ended (and why) when the link went.
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0][0], null);
    assert.ok(sessions[0][1] instanceof ConnectionLost);
    await assert.rejects(dev.add(1, 1), ConnectionLost);
    devicePeer.close();
  }
});

test("a port that cannot open is a LinkError", async () => {
  const port = new FakeSerialPort();
  port.lost = true;
  await assert.rejects(webSerialLink(port, 115200), (e) => e instanceof LinkError && /cannot open the serial port at 115200 baud/.test(e.message));
});

test("line errors in a row with no byte between them give up at the bound", async () => {
  const port = new FakeSerialPort();
  const link = await webSerialLink(port, 115200, { maxReopensInARow: 3 });
  const closed = nextCall();
  let reopened = nextCall();
  link.onReopen = (...a) => reopened.fn(...a);
  link.start({ data() {}, close: closed.fn, drain() {} });
  for (let i = 1; i <= 3; i += 1) {
    port.lineError("ParityError");
    await reopened.promise;
    reopened = nextCall();
  }
  port.lineError("ParityError");
  const [error] = await closed.promise;
  assert.match(error.message, /4 line errors in a row with no data/);
  assert.equal(link.reopenCount, 3);
});

test("writes go one at a time; reading stops while paused", async () => {
  const port = new FakeSerialPort();
  const written = [];
  port.onWrite = (b) => written.push([...b]);
  const link = await webSerialLink(port, 115200);
  const received = [];
  let drained = nextCall();
  let got = nextCall();
  link.pause(); // before the first read: nothing is taken from the stream until resume
  link.start({ data: (b) => { received.push([...b]); got.fn(); }, close() {}, drain: () => drained.fn() });

  assert.equal(link.write(new Uint8Array([1, 2])), false, "a write in flight: wait for drain");
  await drained.promise;
  assert.deepEqual(written, [[1, 2]]);

  port.deliver([7]);
  assert.ok(port.desiredSize <= 0, "the paused link does not read");
  assert.deepEqual(received, []);
  link.resume();
  await got.promise;
  assert.deepEqual(received, [[7]]);
  link.close();
  await waitFor(() => port.closed === 1);
});

test("a Peer over the link sees the close of a lost device at once", async () => {
  const port = new FakeSerialPort();
  const link = await webSerialLink(port, 115200);
  const peer = new Peer(link, {});
  port.unplug();
  const why = await peer.done();
  assert.match(why.message, /the device was disconnected/);
});

/** Resolves once `cond()` holds, looking again after each turn of the event loop. */
async function waitFor(cond, turns = 1000) {
  for (let i = 0; i < turns; i += 1) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  assert.fail(`the condition did not hold within ${turns} turns of the event loop`);
}
