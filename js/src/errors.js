// Errors of wirecall calls: one class per way a call can end without a result, named as in
// the Python package, so that `catch (e) { if (e instanceof Busy) ... }` reads the same.

/** The wire errors by number (docs/PROTOCOL.md, "Error codes"). */
export const ErrorCode = Object.freeze({
  Unknown: 0, Busy: 1, UnknownProcedure: 2, BadArguments: 3, TooLarge: 4,
  DeadlineExceeded: 5, Cancelled: 6, IncompatibleVersion: 7, IncompatibleSchema: 8,
  ProtocolViolation: 9, NoSession: 10, Internal: 11, ShuttingDown: 12, Closed: 13,
  FlowControl: 14, TooDeep: 15, ItemLost: 16, StaleHandle: 17, TooManyHandles: 18, Revoked: 19,
});

const NAMES = Object.fromEntries(Object.entries(ErrorCode).map(([k, v]) => [v, k]));

/** The name of wire error `code` (`"Busy"`), or `"Unknown"`. */
export function errorName(code) {
  return NAMES[code] ?? "Unknown";
}

/** Any failure of a wirecall call. */
export class WirecallError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/** The peer answered with a wire error: `code` (a number), `error` (its name), `detail`. */
export class RemoteError extends WirecallError {
  constructor(code, detail = "", text = errorName(code)) {
    const name = errorName(code);
    super(`the device answered: ${text}${detail ? `: ${detail}` : ""}`);
    this.code = code;
    this.error = name;
    this.detail = detail;
  }

  /** The subclass for wire error `code`. */
  static fromWire(code, detail = "", text = undefined) {
    switch (code) {
      case ErrorCode.Busy: return new Busy(detail);
      case ErrorCode.DeadlineExceeded: return new DeadlineExceeded(detail);
      default: return new RemoteError(code, detail, text);
    }
  }
}

/** The peer had no room for the call (its calls in flight are at its limit): try later. */
export class Busy extends RemoteError {
  constructor(detail = "") {
    super(ErrorCode.Busy, detail, "busy");
  }
}

/** No answer before the deadline (this side noticed, and told the peer to stop). */
export class Timeout extends WirecallError {
  constructor(message = "no answer before the deadline") {
    super(message);
  }
}

/** The peer gave up at the deadline (it says so with DeadlineExceeded). */
export class DeadlineExceeded extends RemoteError {
  constructor(detail = "") {
    super(ErrorCode.DeadlineExceeded, detail, "deadline exceeded");
  }
}

/** The caller cancelled the call (an AbortSignal, or leaving a stream early). */
export class Cancelled extends WirecallError {
  constructor(message = "the call was cancelled") {
    super(message);
  }
}

/** The link dropped, the peer restarted, or the device was closed, before an answer. */
export class ConnectionLost extends WirecallError {
  constructor(message = "the connection was lost") {
    super(message);
  }
}

/** The peer serves another schema than the one expected. */
export class IncompatibleSchema extends WirecallError {}

/** The peer speaks no protocol version this side speaks. */
export class IncompatibleVersion extends WirecallError {}

/** A value does not fit the procedure's declared types (nothing was sent). */
export class EncodeError extends WirecallError {}

/** A payload from the peer does not decode as its declared type. */
export class DecodeError extends WirecallError {}

/** The call's arguments or an item do not fit the frame size both sides agreed. */
export class TooLarge extends WirecallError {}

/** The link could not be opened, or a link URL is malformed. */
export class LinkError extends WirecallError {}
