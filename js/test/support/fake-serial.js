// A fake Web Serial SerialPort for Node tests, behaving as Chromium's does where it matters:
// a line error (framing, parity, break, overrun) errors the current `readable` and a new
// stream appears the next time `readable` is read; a lost device errors it with a
// NetworkError, leaves `readable` and `writable` null and fires `disconnect`. A real port
// cannot be reached from headless Chromium (Web Serial needs a user's gesture and a chooser),
// so the reopen logic is tested here.

/** A SerialPort whose far end is the test: `deliver(bytes)` feeds the host's reader, written bytes go to `onWrite`. */
export class FakeSerialPort extends EventTarget {
  constructor() {
    super();
    this.isOpen = false;
    this.baudRate = null;
    this.current = null; // {stream, controller}
    this.errored = false;
    this.lost = false;
    this.writable = null;
    this.streamsMade = 0;
    this.closed = 0;
    /** Called with each chunk the host writes. */
    this.onWrite = null;
  }

  async open({ baudRate }) {
    if (this.isOpen) throw new DOMException("The port is already open.", "InvalidStateError");
    if (this.lost) throw new DOMException("The device has been lost.", "NetworkError");
    this.isOpen = true;
    this.baudRate = baudRate;
    this.#newReadable();
    this.writable = new WritableStream({ write: (chunk) => this.onWrite?.(new Uint8Array(chunk)) });
  }

  #newReadable() {
    let controller;
    const current = { cancelled: false };
    const stream = new ReadableStream({
      start: (c) => { controller = c; },
      cancel: () => { current.cancelled = true; },
    });
    Object.assign(current, { stream, controller });
    this.current = current;
    this.errored = false;
    this.streamsMade += 1;
  }

  /** As Chromium: after a non-fatal error, reading `readable` makes a new stream. */
  get readable() {
    if (!this.isOpen) return null;
    if (this.errored) this.#newReadable();
    return this.current.stream;
  }

  /** The device sends `bytes` to the host. */
  deliver(bytes) {
    if (!this.readable) throw new Error("the fake port is not open");
    if (this.current.cancelled) return; // the host stopped reading: the bytes are lost
    this.current.controller.enqueue(new Uint8Array(bytes));
  }

  /** How many more chunks the current stream wants (0 or less: nobody is reading). */
  get desiredSize() {
    return this.current.controller.desiredSize;
  }

  /** A line error (FramingError, ParityError, BreakError, BufferOverrunError): the stream errors, a new one follows. */
  lineError(name = "FramingError") {
    this.errored = true;
    this.current.controller.error(new DOMException(`A ${name} was detected.`, name));
  }

  /** The device is unplugged: `disconnect` fires unless `quietly` (then only `readable` tells). */
  unplug({ quietly = false } = {}) {
    this.lost = true;
    this.isOpen = false;
    this.current.controller.error(new DOMException("The device has been lost.", "NetworkError"));
    this.writable = null;
    if (!quietly) this.dispatchEvent(new Event("disconnect"));
  }

  async close() {
    const readable = this.isOpen ? this.current.stream : null;
    if (readable?.locked) throw new DOMException("The readable stream is locked.", "InvalidStateError");
    this.isOpen = false;
    this.closed += 1;
  }
}
