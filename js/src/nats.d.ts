// Types of `wirecall/nats`: devices on a NATS bus through `wirecall-gateway` (src/nats.js).

import type { NatsConnection, ConnectionOptions } from "nats";
import { ConnectionLost, WirecallError } from "./index.js";

/** The request header that gives the call's deadline in milliseconds. */
export declare const TIMEOUT_HEADER: "Wirecall-Timeout-Ms";
/** A stream item's header: its number, from 1. */
export declare const ITEM_HEADER: "Wirecall-Item";
/** The header of a stream's last message when it ended well: how many items it sent. */
export declare const END_HEADER: "Wirecall-End";
/** The deadline of a call that names none (ms). */
export declare const DEFAULT_TIMEOUT_MS: number;
/** How long after its deadline a call waits for the gateway's own answer (ms). */
export declare const GRACE_MS: number;
/** How long a stream may bring nothing before it is cancelled (ms). */
export declare const STREAM_IDLE_MS: number;

/** No gateway on the bus serves the device. */
export declare class NoGateway extends ConnectionLost {}

/** The exception for a gateway's error answer (code and text, as docs/NATS.md lists them). */
export declare function errorFor(code: number, text: string): WirecallError;

/** One endpoint of a device as its gateway announces it. */
export interface NatsProcedure {
  name: string;
  subject: string;
  /** As `wirecall list` prints it: `add(a: i32, b: i32) -> i32`. */
  signature: string;
  /** `call` or `server_stream`. */
  mode: string;
  procedureId: number | null;
}

/** A device on the bus. */
export interface NatsDeviceInfo {
  id: string;
  /** The service name in the device's manifest. */
  service: string;
  /** The schema hash. */
  schema: number;
  /** The kind of link from the gateway to the device: `tcp`, `unix`, `serial`, `exec`. */
  link: string;
  procedures: NatsProcedure[];
  /** The service instance ids of the gateways that answered for it. */
  gateways: string[];
}

/** Options of one call. */
export interface NatsCallOptions {
  /** The call's deadline, sent as `Wirecall-Timeout-Ms` (default: the bus's). */
  timeoutMs?: number;
  /** Cancels the call when it aborts (the gateway is sent the cancel). */
  signal?: AbortSignal;
}

/** Options of one server stream. */
export interface NatsStreamOptions {
  /** The whole stream's deadline, sent as `Wirecall-Timeout-Ms` (default: the bus's). */
  timeoutMs?: number;
  /** How long it may bring nothing before it is cancelled (default 30000). */
  idleMs?: number;
  /** Cancels the stream when it aborts. */
  signal?: AbortSignal;
}

/** Defaults of a device's calls and streams. */
export interface NatsDeviceDefaults {
  /** The deadline of each call and of each whole stream. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** How long a stream may bring nothing. */
  idleMs?: number;
}

/** The items of one server stream; leaving a loop early cancels it. */
export declare class NatsStream<T = unknown, R = unknown> implements AsyncIterable<T> {
  readonly procedure: string;
  /** How many items the gateway said it sent, once the stream ended well. */
  readonly count: number | null;
  /** The procedure's final value (null for none) once the stream ended well; rejects with its error. */
  readonly result: Promise<R>;
  [Symbol.asyncIterator](): AsyncIterator<T>;
  next(): Promise<IteratorResult<T, undefined>>;
  return(): Promise<IteratorResult<T, undefined>>;
  /** Cancels the stream: the gateway is sent the cancel; the stream ends with `error`. */
  cancel(error?: Error): void;
  toArray(): Promise<T[]>;
}

/** `dev.NAME(...)`: awaited, a call; iterated, a server stream. */
export declare class NatsInvocation<T = unknown> implements PromiseLike<T>, AsyncIterable<T> {
  then<A = T, B = never>(onFulfilled?: ((value: T) => A | PromiseLike<A>) | null, onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B>;
  catch<B = never>(onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<T | B>;
  finally(onFinally?: (() => void) | null): Promise<T>;
  [Symbol.asyncIterator](): NatsStream<T>;
}

/** A device on the bus: its procedures are methods (`await dev.add(2, 40)`). */
export interface NatsDevice {
  readonly bus: NatsBus;
  readonly id: string;
  readonly defaults: NatsDeviceDefaults;
  /** This device with other defaults. */
  with(defaults: NatsDeviceDefaults): NatsDevice;
  /** Calls `name`: positional arguments, one array, an object by name, or a bare value. */
  call(name: string, ...args: unknown[]): Promise<unknown>;
  /** The server stream `name`. */
  stream(name: string, ...args: unknown[]): NatsStream;
  /** What a gateway says of this device, or null when none serves it. */
  info(): Promise<NatsDeviceInfo | null>;
  /** Any other name is a procedure. */
  [procedure: string]: unknown;
}

/** A NATS connection that calls wirecall devices through their gateways. */
export declare class NatsBus {
  readonly nc: NatsConnection;
  /** The deadline of calls and streams that name none. */
  timeoutMs: number;
  /** The device with id `id` (no request is made). */
  device(id: string, defaults?: NatsDeviceDefaults): NatsDevice & { [procedure: string]: (...args: unknown[]) => NatsInvocation };
  /** The devices on the bus, gathered from `$SRV.INFO` until `quietMs` pass without an answer (at most `timeoutMs`). */
  devices(options?: { timeoutMs?: number; quietMs?: number }): Promise<NatsDeviceInfo[]>;
  /** One gateway's description of device `id`, or null. */
  deviceInfo(id: string, options?: { timeoutMs?: number }): Promise<NatsDeviceInfo | null>;
  /** Calls `procedure` of device `id` with JSON `args`. */
  call(id: string, procedure: string, args?: unknown, options?: NatsCallOptions): Promise<unknown>;
  /** A server stream of `procedure` of device `id`. */
  stream(id: string, procedure: string, args?: unknown, options?: NatsStreamOptions): NatsStream;
  /** Fails the calls and streams still waiting (ConnectionLost) and sends their cancels,
   * sends what is on its way, removes the bus's subscription, then closes the connection if
   * this bus made it. */
  close(): Promise<void>;
}

/** Connects to NATS; `timeoutMs` is the deadline of calls and streams that name none, the rest goes to the `nats` package. */
export declare function connectNats(servers?: string | string[], options?: { timeoutMs?: number } & Omit<ConnectionOptions, "servers">): Promise<NatsBus>;

/** A NatsBus on a NATS connection the caller made (and closes). */
export declare function busOver(nc: NatsConnection, options?: { timeoutMs?: number }): Promise<NatsBus>;
