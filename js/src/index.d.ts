// Types of the wirecall package's public API (hand-written; the code is plain JavaScript).
// A device's own procedures are typed by the declarations `wirecall-types` generates from
// its manifest: `const calc = await connect<CalcDevice>("tcp://127.0.0.1:7000")`.

// ---------------------------------------------------------------------------- errors

/** The wire errors by number (docs/PROTOCOL.md, "Error codes"). */
export declare const ErrorCode: Readonly<{
  Unknown: 0; Busy: 1; UnknownProcedure: 2; BadArguments: 3; TooLarge: 4;
  DeadlineExceeded: 5; Cancelled: 6; IncompatibleVersion: 7; IncompatibleSchema: 8;
  ProtocolViolation: 9; NoSession: 10; Internal: 11; ShuttingDown: 12; Closed: 13;
  FlowControl: 14; TooDeep: 15; ItemLost: 16; StaleHandle: 17; TooManyHandles: 18; Revoked: 19;
}>;

/** A wire error's name (`"Busy"`). */
export type ErrorName = keyof typeof ErrorCode;

/** The name of wire error `code`, or `"Unknown"`. */
export declare function errorName(code: number): ErrorName;

/** Any failure of a wirecall call. */
export declare class WirecallError extends Error {
  constructor(message?: string);
}

/** The peer answered with a wire error; a handler throws one to answer with it. */
export declare class RemoteError extends WirecallError {
  constructor(code: number, detail?: string, text?: string);
  /** The wire error's number. */
  readonly code: number;
  /** Its name. */
  readonly error: ErrorName;
  /** The peer's detail text (may be empty). */
  readonly detail: string;
  /** The subclass for wire error `code`. */
  static fromWire(code: number, detail?: string, text?: string): RemoteError;
}

/** The peer had no room for the call: try later. */
export declare class Busy extends RemoteError {
  constructor(detail?: string);
}
/** No answer before the deadline (this side noticed, and told the peer to stop). */
export declare class Timeout extends WirecallError {}
/** The peer gave up at the deadline. */
export declare class DeadlineExceeded extends RemoteError {
  constructor(detail?: string);
}
/** The call was cancelled (an AbortSignal, or leaving a stream early). */
export declare class Cancelled extends WirecallError {}
/** The link dropped, the peer restarted, or the device was closed, before an answer. */
export declare class ConnectionLost extends WirecallError {}
/** The peer serves another schema than the one expected. */
export declare class IncompatibleSchema extends WirecallError {}
/** The peer speaks no protocol version this side speaks. */
export declare class IncompatibleVersion extends WirecallError {}
/** A value does not fit the procedure's declared types (nothing was sent). */
export declare class EncodeError extends WirecallError {}
/** A payload from the peer does not decode as its declared type. */
export declare class DecodeError extends WirecallError {}
/** The arguments or an item do not fit the frame size both sides agreed. */
export declare class TooLarge extends WirecallError {}
/** The link could not be opened, or a link URL is malformed. */
export declare class LinkError extends WirecallError {}

// ---------------------------------------------------------------------------- manifests

/** A type in the manifest's JSON form (`{"type": "u32"}`, `{"type": "seq", "max": 8, "item": ...}`). */
export interface TypeJson {
  type: string;
  [member: string]: unknown;
}

/** A type as a declaration takes it: the notation (`"Vec<u8, 200>"`) or the JSON form. */
export type TypeSpec = string | TypeJson;

/** A procedure's kind. */
export type Kind = "call" | "server stream" | "client stream" | "bidi stream";

/** The kinds of procedure. */
export declare const KINDS: readonly Kind[];

/** A procedure in the manifest's JSON form (as `wirecall list --json` prints it). */
export interface ProcedureJson {
  id: number;
  name: string;
  kind: Kind;
  signature: string;
  params: { name: string; type: TypeJson }[];
  output: TypeJson;
  item: TypeJson | null;
  in_item: TypeJson | null;
}

/** A manifest's JSON form. */
export interface ManifestJson {
  format: number;
  service: string;
  procedures: ProcedureJson[];
  interfaces: { name: string; methods: ProcedureJson[] }[];
}

/** A parsed manifest and its codec (the WebAssembly module's `Schema`). */
export interface Schema {
  bytes(): Uint8Array;
  readonly hash: number;
  readonly service: string;
  describe(): ManifestJson;
  encode(part: "args" | "output" | "item" | "in_item", procedure: string, value: unknown): Uint8Array;
  decode(part: "args" | "output" | "item" | "in_item", procedure: string, bytes: Uint8Array): unknown;
  free(): void;
}

// ---------------------------------------------------------------------------- links

/** What a link calls back: bytes that arrived, its end, room to write again. */
export interface LinkHandlers {
  data(bytes: Uint8Array): void;
  close(error: Error | null): void;
  drain(): void;
}

/** A byte stream a Peer drives (duck-typed: any object with these members). */
export interface Link {
  readonly name: string;
  start(handlers: LinkHandlers): void;
  /** False: buffered past its high-water mark, wait for `drain`. */
  write(bytes: Uint8Array): boolean;
  pause(): void;
  resume(): void;
  close(): void;
}

/** A parsed link URL. */
export type LinkUrl =
  | { kind: "tcp"; host: string; port: number }
  | { kind: "unix"; path: string }
  | { kind: "serial"; path: string; baud: number }
  | { kind: "exec"; command: string }
  | { kind: "ws"; url: string };

/** The baud rate of a `serial:` URL that names none. */
export declare const DEFAULT_BAUD: number;

/** Parses a link URL; throws a LinkError saying what is wrong. */
export declare function parseLinkUrl(url: string, options?: { listening?: boolean }): LinkUrl;

// ---------------------------------------------------------------------------- the client

/** The engine's options (each side's limits and timers). */
export interface EngineOptions {
  /** Largest frame, 48 to 4096 bytes. */
  maxFrame?: number;
  /** Calls in flight each way, 1 to 32. */
  maxCalls?: number;
  keepaliveMs?: number;
  callTimeoutMs?: number;
  frameTimeoutMs?: number;
  /** Items accepted on each stream before more credit is granted. */
  streamWindow?: number;
  expectSchema?: number;
}

/** Defaults of a device's calls. */
export interface CallDefaults {
  /** Each call's deadline. */
  timeoutMs?: number;
  /** Cancels the calls when it aborts. */
  signal?: AbortSignal;
}

/** Options of `connect` and `deviceOver`. */
export interface ConnectOptions extends EngineOptions, CallDefaults {
  /** Handshake and manifest, default 5000. */
  connectTimeoutMs?: number;
}

/** The peer's Hello. */
export interface PeerInfo {
  version: number;
  maxFrame: number;
  maxInbound: number;
  maxOutbound: number;
  keepaliveMs: number;
  schema: number;
  manifest: boolean;
  callTimeoutMs?: number;
  streamWindow?: number;
  handles: boolean;
}

/** One session over one link, driving the WebAssembly engine (the layer under Device and serve). */
export declare class Peer {
  constructor(link: Link, options?: { engine?: EngineOptions; onRequest?: (peer: Peer, event: object) => void; onDisconnect?: (event: object) => void; onClose?: (error: Error | null) => void });
  readonly info: PeerInfo | null;
  ready(): Promise<PeerInfo>;
  done(): Promise<Error | null>;
  close(error?: Error | null): void;
  stats(): Record<string, number>;
}

/** The items a procedure sends, as an async iterable; `result` is its final value. */
export declare class ItemStream<T = unknown, R = unknown> implements AsyncIterable<T> {
  /** The final value, once the items ended. */
  readonly result: Promise<R>;
  [Symbol.asyncIterator](): AsyncIterator<T>;
  next(): Promise<IteratorResult<T, undefined>>;
  /** Leaving a loop early cancels the call. */
  return(): Promise<IteratorResult<T, undefined>>;
  /** Cancels the call: the peer is told, the stream ends with Cancelled. */
  cancel(error?: Error): void;
  /** Every item, collected (for short streams). */
  toArray(): Promise<T[]>;
}

/**
 * A connected device, called by procedure name (`device.call("add", 2, 3)`) or by method
 * (`device.add(2, 3)`: type it with the interface `wirecall-types` generates).
 */
export declare class Device {
  readonly service: string;
  readonly procedures: ProcedureJson[];
  readonly manifest: ManifestJson;
  readonly schemaHash: number;
  readonly peer: Peer;
  /** This device with other call defaults. */
  with(defaults: CallDefaults): Device;
  /** Calls `name`: positional arguments, one array, an object by name, or a bare value;
   * a stream of items as the last argument; a server stream returns an ItemStream. */
  call(name: string, ...args: unknown[]): Promise<unknown> | ItemStream;
  stats(): Record<string, number>;
  /** Ends the session and the link. */
  close(): Promise<Error | null>;
}

/** Opens a session over `link`, reads the peer's manifest, and returns a Device. */
export declare function deviceOver<D extends Device = Device>(link: Link, options?: ConnectOptions): Promise<D>;

/** (Node) Connects to the device a link URL names: `tcp://`, `unix:`, `serial://`, `exec:`. */
export declare function connect<D extends Device = Device>(url: string, options?: ConnectOptions): Promise<D>;

/** (Node) Opens the link a URL names. */
export declare function openLink(url: string): Promise<Link>;
/** (Node) A TCP connection. */
export declare function tcpLink(host: string, port: number): Promise<Link>;
/** (Node) A Unix socket. */
export declare function unixLink(path: string): Promise<Link>;
/** (Node) A child process (`sh -c COMMAND`) over its stdin and stdout. */
export declare function execLink(command: string): Promise<Link>;
/** (Node) A serial port, 8N1 (needs the `serialport` package). */
export declare function serialLink(path: string, baud: number): Promise<Link>;
/** The part of a Node stream StreamLink uses (typed here without @types/node). */
export interface NodeStreamLike {
  on(event: string, listener: (...args: any[]) => void): unknown;
}

/** (Node) A link over a readable and a writable Node stream. */
export declare class StreamLink {
  /** `readable` and `writable`: Node streams (one duplex, or a child's stdout and stdin). */
  constructor(name: string, readable: NodeStreamLike, writable: NodeStreamLike, closer: () => void);
}
/** Its members are a Link's. */
export interface StreamLink extends Link {}

// ---------------------------------------------------------------------------- the server

/** What `Service.expose` takes about a procedure (types as notation strings or JSON form). */
export interface ProcedureSpec {
  /** Parameter name to type, in order (or `[{name, type}]`). */
  params?: Record<string, TypeSpec> | { name: string; type: TypeSpec }[];
  /** The result's type; default `()`. */
  output?: TypeSpec;
  /** The items it sends: a server stream. */
  item?: TypeSpec;
  /** The items it takes: a client stream (with `item` too: bidirectional). */
  in_item?: TypeSpec;
  /** Derived from `item` and `in_item` when left out. */
  kind?: Kind;
  /** Its wire number; default: the first one free. */
  id?: number;
}

/** What a handler gets as `this` and as its last argument. */
export interface HandlerContext {
  /** Aborts when the request ends before its answer; `reason`: Cancelled, Timeout or ConnectionLost. */
  signal: AbortSignal;
  /** The procedure's name. */
  procedure: string;
  /** The caller's Hello. */
  peer: PeerInfo | null;
}

/**
 * A handler: `(...args, [items], context)`. A plain call's or a client stream's returns its
 * output (or a promise); a server stream's returns an iterable or async iterable of items
 * (a generator, whose return value is the output). `items` is an async iterable.
 */
export type Handler = (this: HandlerContext, ...args: any[]) => unknown;

/** A named set of procedures served together, and their manifest. */
export declare class Service {
  constructor(name: string);
  readonly name: string;
  /** Serves `handler` as procedure `name`; returns this. Throws (TypeError) for a bad declaration. */
  expose(name: string, spec: ProcedureSpec, handler: Handler): this;
  expose(name: string, handler: Handler): this;
  /** The manifest (fixes it: exposing more afterwards throws). */
  readonly schema: Schema;
  /** The schema hash (as `SCHEMA_HASH` of a Rust `service!`). */
  readonly hash: number;
  /** The manifest's JSON form. */
  describe(): ManifestJson;
}

/** Options of `serve`, `serveStdio` and each session of `listen`. */
export interface ServeOptions extends EngineOptions {
  /** Calls served at once, 1 to 32 (default 32); one more is answered Busy. */
  maxCalls?: number;
  /** A handler threw something that is no RemoteError (answered Internal with its message). */
  onError?: (error: unknown, procedure: string) => void;
  /** No handshake within this long closes the link (default three keepalives). */
  handshakeTimeoutMs?: number;
  /** Ends the session when it aborts. */
  signal?: AbortSignal;
}

/** Serves `service` on `link`: one session; resolves when it ends (with the error that ended it, or null). */
export declare function serve(link: Link, service: Service, options?: ServeOptions): Promise<Error | null>;

/** (Node) Serves on stdin and stdout until stdin ends (console.log goes to stderr meanwhile). */
export declare function serveStdio(service: Service, options?: ServeOptions): Promise<Error | null>;

/** (Node) Connections a listener serves at once, by default. */
export declare const MAX_CONNECTIONS: number;

/** (Node) A listening socket serving each connection. */
export declare class Listener {
  /** `tcp://HOST:PORT` or `unix:///path`. */
  readonly url: string;
  /** `HOST:PORT` or the path. */
  readonly address: string;
  readonly host?: string;
  readonly port?: number;
  readonly path?: string;
  /** Connections served now. */
  readonly connections: number;
  /** Connections turned away at the limit (sent Close(Busy)). */
  readonly refused: number;
  /** Stops listening and closes every session. */
  close(): Promise<void>;
}

/** (Node) Listens on `tcp://HOST:PORT` (port 0: any) or `unix:PATH`, serving each connection. */
export declare function listen(url: string, service: Service, options?: ServeOptions & { maxConnections?: number }): Promise<Listener>;

// ---------------------------------------------------------------------------- types

/** The text of a `.d.ts` for the device serving `manifest` (its JSON form, or `wirecall list --json` output). */
export declare function typescript(manifest: ManifestJson | { schema?: string; manifest: ManifestJson }, options?: { module?: string; schema?: number | string }): string;

/** The WebAssembly module's exports (Engine, Schema, manifestHash). */
export declare function wasm(): {
  Schema: { new (bytes: Uint8Array): Schema; declare(description: object): Schema };
  manifestHash(bytes: Uint8Array): number;
  [name: string]: unknown;
};
