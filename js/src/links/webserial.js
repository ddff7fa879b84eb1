// A link over a Web Serial `SerialPort` (navigator.serial.requestPort() in Chromium).
//
// The known trap: a line error (framing, parity, break, buffer overrun) errors the port's
// ReadableStream, and Chromium then puts a new stream in `port.readable`. Code that reads
// one stream until it throws stops reading for good while the port (and a page's "connected")
// stays up: every later call times out. Here a non-fatal read error re-acquires
// `port.readable.getReader()` and reads on, counting the reopenings (`reopenCount`, and
// `onReopen(error, count)`); the bytes lost in the error are the protocol's business (its
// CRC and resynchronisation drop the damaged frame, a call in it times out or is retried).
// Only a fatal condition closes the link, so the Peer sees the close and fails its calls:
// `port.readable` null after the error (the device is gone), a `disconnect` event, a write
// that fails, or too many reopenings in a row with no byte read in between.
//
// Reading stops while the Peer pauses the link: the stream's queue fills and the port's own
// buffer holds the rest (the same backpressure a Node serial port gets from pause()).
// Writes go one at a time through `port.writable.getWriter()`: write() starts one and answers
// false while it is in flight, and drain fires once it completed.

import { deviceOver } from "../device.js";
import { LinkError } from "../errors.js";
import { DEFAULT_BAUD } from "../url.js";

/** Line errors after which Chromium replaces `port.readable` (Web Serial spec). */
const LINE_ERRORS = new Set(["BreakError", "BufferOverrunError", "FramingError", "ParityError"]);

/** Reopenings in a row, with no byte read between them, after which the port is given up. */
export const MAX_REOPENS_IN_A_ROW = 100;

/**
 * Opens `port` (a Web Serial SerialPort, not yet open; one already open is used as it is)
 * at `baud`, 8N1, and resolves with a link over it (see peer.js). Options: `onReopen(error,
 * count)`, called after each line error the link read past; `maxReopensInARow` (default
 * 100). Closing the link closes the port. Rejects with a LinkError if the port cannot open.
 */
export async function webSerialLink(port, baud, options = {}) {
  if (!port.readable || !port.writable) {
    try {
      await port.open({ baudRate: baud, dataBits: 8, stopBits: 1, parity: "none" });
    } catch (e) {
      throw new LinkError(`cannot open the serial port at ${baud} baud: ${e?.message ?? e}`);
    }
  }
  if (!port.readable || !port.writable) throw new LinkError("cannot open the serial port: it has no streams");
  return new WebSerialLink(port, baud, options);
}

/**
 * Opens a Web Serial `port` (from `navigator.serial.requestPort()`) at `baud` (default
 * 115200), 8N1, and returns a Device bound to the manifest of the device on it. Reading
 * goes on after line errors; `onReopen(error, count)` hears each one, and
 * `device.peer.link.reopenCount` counts them. Closing the device closes the port. Other
 * options: `maxReopensInARow`, and those of deviceOver (`timeoutMs`, `connectTimeoutMs`, ...).
 */
export async function connectSerial(port, options = {}) {
  const { baud = DEFAULT_BAUD, onReopen, maxReopensInARow, ...rest } = options;
  return deviceOver(await webSerialLink(port, baud, { onReopen, maxReopensInARow }), rest);
}

/** Whether a read error is one after which reading goes on (a new stream appeared). */
function recoverable(error, port, before) {
  if (!port.readable) return false; // the device is gone: no stream to read on
  return LINE_ERRORS.has(error?.name) || port.readable !== before;
}

/** The link over an open SerialPort (made by webSerialLink). */
export class WebSerialLink {
  constructor(port, baud, options = {}) {
    this.port = port;
    this.name = `serial port at ${baud} baud`;
    this.onReopen = options.onReopen ?? null;
    this.maxReopensInARow = options.maxReopensInARow ?? MAX_REOPENS_IN_A_ROW;
    /** How many times reading went on after a line error, on a new stream. */
    this.reopenCount = 0;
    this.handlers = null;
    this.ended = false;
    this.reader = null;
    this.writer = port.writable.getWriter();
    this.inFlight = 0;
    this.paused = false;
    this.resumed = null;
    this.onDisconnect = () => this.#fatal(new LinkError(`${this.name}: the device was disconnected`));
  }

  start(handlers) {
    this.handlers = handlers;
    this.port.addEventListener?.("disconnect", this.onDisconnect);
    this.#readAll();
  }

  async #readAll() {
    let inARow = 0;
    while (!this.ended) {
      const stream = this.port.readable;
      if (!stream) return this.#fatal(new LinkError(`${this.name}: the port has no readable stream (the device is gone)`));
      const reader = stream.getReader();
      this.reader = reader;
      try {
        for (;;) {
          if (this.paused) await this.#untilResumed();
          if (this.ended) return;
          const { value, done } = await reader.read();
          if (this.ended) return;
          if (done) return this.#fatal(new LinkError(`${this.name}: the port's stream ended`));
          if (value?.length) {
            inARow = 0;
            this.handlers.data(value);
          }
        }
      } catch (error) {
        if (this.ended) return;
        if (!recoverable(error, this.port, stream)) {
          return this.#fatal(new LinkError(`${this.name}: ${error?.name ?? "read error"}: ${error?.message ?? error}`));
        }
        inARow += 1;
        if (inARow > this.maxReopensInARow) {
          return this.#fatal(new LinkError(`${this.name}: ${inARow} line errors in a row with no data (last: ${error?.name})`));
        }
        this.reopenCount += 1;
        this.onReopen?.(error, this.reopenCount);
      } finally {
        try {
          reader.releaseLock();
        } catch {
          // An errored or cancelled reader has nothing to release.
        }
        if (this.reader === reader) this.reader = null;
      }
    }
  }

  #untilResumed() {
    this.resumed ??= Promise.withResolvers?.() ?? withResolvers();
    return this.resumed.promise;
  }

  write(bytes) {
    if (this.ended) return true;
    this.inFlight += 1;
    this.writer.write(bytes).then(() => {
      this.inFlight -= 1;
      if (this.inFlight === 0 && !this.ended) this.handlers.drain();
    }, (e) => {
      this.inFlight -= 1;
      this.#fatal(new LinkError(`${this.name}: a write failed: ${e?.message ?? e}`));
    });
    return false;
  }

  pause() {
    this.paused = true;
  }

  resume() {
    this.paused = false;
    const r = this.resumed;
    this.resumed = null;
    r?.resolve();
  }

  /** Ends the link on a condition reading cannot survive: the Peer hears why. */
  #fatal(error) {
    if (this.ended) return;
    const handlers = this.handlers;
    this.close();
    handlers?.close(error);
  }

  close() {
    if (this.ended) return;
    this.ended = true;
    this.port.removeEventListener?.("disconnect", this.onDisconnect);
    this.resume();
    // The port closes once both streams are unlocked: the reader cancelled, the writer
    // flushed (the Peer's Close frame goes out first). Failures here change nothing.
    const reader = this.reader;
    const writer = this.writer;
    (async () => {
      await reader?.cancel().catch(() => {});
      try {
        reader?.releaseLock();
      } catch {
        // Released already by the read loop.
      }
      await writer.close().catch(() => {});
      try {
        writer.releaseLock();
      } catch {
        // Released already.
      }
      await this.port.close().catch(() => {});
    })();
  }
}

/** Promise.withResolvers for runtimes before it (Node 20). */
function withResolvers() {
  let resolve, reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}
