// A hostile peer on a socket of the Node server: garbage, frames beyond the frame size, a
// flood of requests past the calls it serves at once, silence instead of a handshake, and
// connections past the listener's cap. Each is answered explicitly (Busy, Close(Busy)) or
// dropped as the protocol says, and the server keeps serving, that peer and the others.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { ErrorCode, Service, connect, listen } from "wirecall";
import { cancel, frame, hello, parse, request, unframe } from "./support/raw.js";

/** The handlers that wait, released by the test. */
let waiting = [];

const service = new Service("target")
  .expose("add", { params: { a: "i32", b: "i32" }, output: "i32" }, (a, b) => a + b)
  .expose("wait", {}, (context) => new Promise((resolve) => {
    waiting.push(resolve);
    context.signal.addEventListener("abort", () => resolve(), { once: true });
  }));

const ADD = 0;
const WAIT = 1;
/** add(1, 2)'s arguments: zigzag varints. */
const ONE_TWO = [2, 4];

/** A peer speaking raw bytes: sends what it is told, collects the frames it gets. */
class RawPeer {
  /** A connection to the listener, destroyed when test `t` ends. */
  static async connect(t) {
    const socket = net.connect({ host: "127.0.0.1", port: listener.port });
    t.after(() => socket.destroy());
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new RawPeer(socket);
  }

  constructor(socket) {
    this.socket = socket;
    this.bytes = [];
    this.closed = new Promise((resolve) => socket.once("close", resolve));
    this.waiters = new Set();
    socket.on("data", (b) => {
      this.bytes.push(...b);
      for (const w of [...this.waiters]) w();
    });
    socket.on("close", () => { for (const w of [...this.waiters]) w(); });
    socket.on("error", () => {});
  }

  send(bytes) {
    this.socket.write(Uint8Array.from(bytes));
  }

  frames() {
    return unframe(this.bytes).map(parse);
  }

  /** Resolves with the frames once `enough(frames)` holds (the socket closing ends the wait). */
  until(enough) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const frames = this.frames();
        if (enough(frames)) {
          this.waiters.delete(check);
          resolve(frames);
        } else if (this.socket.destroyed) {
          this.waiters.delete(check);
          reject(new Error(`closed, with only ${JSON.stringify(frames)}`));
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The answer (reply or error) to call `id`, once it came. */
  async answer(id) {
    const frames = await this.until((fs) => fs.some((f) => (f.kind === "reply" || f.kind === "error") && f.id === id));
    return frames.find((f) => (f.kind === "reply" || f.kind === "error") && f.id === id);
  }

  destroy() {
    this.socket.destroy();
  }
}

let listener;
before(async () => {
  listener = await listen("tcp://127.0.0.1:0", service, { maxCalls: 4, maxConnections: 3, handshakeTimeoutMs: 300 });
});
after(async () => {
  for (const release of waiting) release();
  await listener.close();
});

test("garbage and broken frames are dropped; the call after them is answered", async (t) => {
  const peer = await RawPeer.connect(t);
  peer.send([0x13, 0x37, 0xff, 0xfe, 0x00, 0x00, 0x42, 0x00, 0x01, 0x02]); // noise
  peer.send(frame(hello()));
  const add = frame(request(7, ADD, ONE_TWO));
  add[3] ^= 0x55; // a damaged byte: its CRC fails
  peer.send(add);
  peer.send([0x00, 0x05, 0x01, 0x02]); // half a frame, then the next delimiter
  peer.send(frame(request(8, ADD, ONE_TWO)));
  const reply = await peer.answer(8);
  assert.deepEqual(reply, { kind: "reply", id: 8, payload: [6] });
  assert.ok(!peer.frames().some((f) => f.id === 7), "the damaged request is never answered");
});

test("a frame beyond the frame size is dropped whole; the session goes on", async (t) => {
  const peer = await RawPeer.connect(t);
  peer.send(frame(hello()));
  peer.send(frame(request(1, ADD, [...ONE_TWO, ...new Array(6000).fill(0x33)])));
  peer.send(frame(request(2, ADD, ONE_TWO)));
  assert.equal((await peer.answer(2)).kind, "reply");
  assert.ok(!peer.frames().some((f) => f.id === 1));
});

test("a flood past the calls served at once is answered Busy, and serving goes on", async (t) => {
  const peer = await RawPeer.connect(t);
  peer.send(frame(hello({ maxInbound: 32 })));
  const flood = [];
  for (let id = 0; id < 40; id++) flood.push(...frame(request(id, WAIT)));
  peer.send(flood);
  // Four are served (they wait); each of the other 36 is told Busy at once.
  const frames = await peer.until((fs) => fs.filter((f) => f.kind === "error").length >= 36);
  const busy = frames.filter((f) => f.kind === "error" && f.code === ErrorCode.Busy);
  assert.equal(busy.length, 36);
  const admitted = [...Array(40).keys()].filter((id) => !busy.some((f) => f.id === id));
  assert.equal(admitted.length, 4);
  // Cancelled, they end (their handlers see their signals abort) and make room.
  for (const id of admitted) peer.send(frame(cancel(id)));
  for (const id of admitted) assert.equal((await peer.answer(id)).code, ErrorCode.Cancelled);
  for (let id = 100; ; id++) {
    peer.send(frame(request(id, ADD, ONE_TWO)));
    const answer = await peer.answer(id);
    if (answer.kind === "reply") break;
    assert.equal(answer.code, ErrorCode.Busy, "busy until the handlers returned");
  }
});

test("unknown procedures and undecodable arguments get explicit errors", async (t) => {
  const peer = await RawPeer.connect(t);
  peer.send(frame(hello()));
  peer.send(frame(request(1, 77)));
  peer.send(frame(request(2, ADD, [2])));
  const unknown = await peer.answer(1);
  assert.equal(unknown.code, ErrorCode.UnknownProcedure);
  assert.equal(unknown.detail, "no procedure 77; this service has 0 = add, 1 = wait");
  const bad = await peer.answer(2);
  assert.equal(bad.code, ErrorCode.BadArguments);
  assert.match(bad.detail, /^add: expected i32 at b/);
});

test("a peer that never says Hello is closed after the handshake timeout", async (t) => {
  const peer = await RawPeer.connect(t);
  peer.send([0x01, 0x02, 0x03]);
  await peer.closed;
  assert.ok(peer.frames().some((f) => f.kind === "hello"), "the server said its Hello");
});

test("a connection past the cap is sent Close(Busy) and closed; the others are served", async (t) => {
  const held = [];
  try {
    for (let i = 0; i < 3; i++) {
      const peer = await RawPeer.connect(t);
      peer.send(frame(hello()));
      await peer.until((fs) => fs.some((f) => f.kind === "hello"));
      held.push(peer);
    }
    const refused = await RawPeer.connect(t);
    await refused.closed;
    assert.deepEqual(refused.frames(), [{ kind: "close", code: ErrorCode.Busy }]);
    assert.ok(listener.refused >= 1);
    // The held ones are still served; once one goes, a client gets in.
    held[0].send(frame(request(5, ADD, ONE_TWO)));
    assert.equal((await held[0].answer(5)).kind, "reply");
    held.shift().destroy();
    for (;;) {
      // Its session ends when the server sees the socket close: until then, refused.
      try {
        const client = await connect(listener.url, { connectTimeoutMs: 2000 });
        assert.equal(await client.add(20, 22), 42);
        await client.close();
        break;
      } catch (e) {
        assert.match(String(e), /busy|closed|lost/i);
      }
    }
  } finally {
    for (const peer of held) peer.destroy();
  }
});
