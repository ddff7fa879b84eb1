// wirecall for Node: the entry point. Loads the WebAssembly core from disk, then offers
// the client (`connect(url)`), the server (`Service`, `serve`), links by URL and the rest.

import "./wasm.node.js";
import { openLink } from "./links/node.js";
import { deviceOver } from "./device.js";
import { connectWebSocket } from "./links/websocket.js";

export * from "./common.js";
export { openLink, tcpLink, unixLink, execLink, serialLink, StreamLink } from "./links/node.js";
export { webSocketLink, connectWebSocket } from "./links/websocket.js";
export { serveStdio, listen, Listener, MAX_CONNECTIONS } from "./listen.js";

/**
 * Connects to the wirecall peer a link URL names (`tcp://HOST:PORT`, `unix:///path`,
 * `serial:///dev/ttyUSB0?baud=115200`, `exec:COMMAND`, `ws://HOST:PORT/PATH` where
 * `globalThis.WebSocket` exists) and returns a Device bound to its
 * manifest. Options: `timeoutMs` (each call's default deadline), `connectTimeoutMs`, and
 * the engine's options (`maxFrame`, `maxCalls`, `keepaliveMs`, `streamWindow`).
 */
export async function connect(url, options = {}) {
  if (/^wss?:\/\//.test(url)) return connectWebSocket(url, options);
  const link = await openLink(url);
  return deviceOver(link, options);
}
