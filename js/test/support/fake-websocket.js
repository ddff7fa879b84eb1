// A fake browser WebSocket for Node tests, installed as globalThis.WebSocket while a test
// runs: the test opens, fails or closes it and sets bufferedAmount, as a network would.

/** An event of `type` with extra fields (Node 20 has no CloseEvent or MessageEvent with data). */
function event(type, fields = {}) {
  return Object.assign(new Event(type), fields);
}

export class FakeWebSocket extends EventTarget {
  /** Every socket made, newest last. */
  static made = [];

  constructor(url, protocols) {
    super();
    this.url = url;
    this.protocols = protocols;
    this.readyState = 0;
    this.binaryType = "blob";
    this.bufferedAmount = 0;
    this.sent = [];
    this.closedWith = null;
    FakeWebSocket.made.push(this);
  }

  /** The handshake succeeded. */
  open() {
    this.readyState = 1;
    this.dispatchEvent(event("open"));
  }

  /** The connection failed (as browsers report it: error, then close with 1006). */
  fail(reason = "") {
    this.readyState = 3;
    this.dispatchEvent(event("error"));
    this.dispatchEvent(event("close", { code: 1006, reason, wasClean: false }));
  }

  /** The server closed the connection with `code` and `reason`. */
  serverClose(code, reason = "") {
    this.readyState = 3;
    this.dispatchEvent(event("close", { code, reason, wasClean: true }));
  }

  /** A message from the server (ArrayBuffer or string). */
  receive(data) {
    this.dispatchEvent(event("message", { data }));
  }

  send(data) {
    if (this.readyState === 0) throw new DOMException("Still in CONNECTING state.", "InvalidStateError");
    const bytes = new Uint8Array(data.buffer ?? data, data.byteOffset ?? 0, data.byteLength);
    this.sent.push([...bytes]);
    this.bufferedAmount += bytes.length;
  }

  close(code, reason) {
    if (this.readyState >= 2) return;
    if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999)) {
      throw new DOMException(`The close code ${code} is neither 1000 nor 3000-4999.`, "InvalidAccessError");
    }
    this.closedWith = { code, reason };
    this.readyState = 2;
  }
}

/** Runs `fn` with FakeWebSocket as globalThis.WebSocket, putting the real one back after. */
export async function withFakeWebSocket(fn) {
  const real = globalThis.WebSocket;
  globalThis.WebSocket = FakeWebSocket;
  FakeWebSocket.made = [];
  try {
    return await fn();
  } finally {
    if (real === undefined) delete globalThis.WebSocket;
    else globalThis.WebSocket = real;
  }
}
