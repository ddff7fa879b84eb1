// wirecall for browsers: the entry point. Fetches and compiles the WebAssembly core (a
// top-level await: importing this module finishes once the core is ready), then offers the
// client over a WebSocket (`connect("ws://...")`) or a Web Serial port (`connectSerial`).

import "./wasm.web.js";
import { deviceOver } from "./device.js";
import { LinkError } from "./errors.js";
import { parseLinkUrl } from "./url.js";
import { connectWebSocket } from "./links/web.js";

export * from "./common.js";
export { connectSerial, webSocketLink, webSerialLink, WebSocketLink, WebSerialLink } from "./links/web.js";

/**
 * Connects to a wirecall peer and returns a Device bound to its manifest. `urlOrLink` is a
 * `ws://` or `wss://` URL (a WebSocket whose binary messages carry the byte stream, as
 * `wirecall web` serves on /ws) or a link object (see peer.js). Options: `timeoutMs` (each
 * call's default deadline), `connectTimeoutMs`, the engine's options (`maxFrame`,
 * `maxCalls`, `keepaliveMs`, `streamWindow`, `expectSchema`), and for a URL the
 * WebSocket link's `highWater` and `maxPaused`. Fails with a LinkError if the WebSocket
 * cannot open or closes before the handshake (with the server's reason).
 */
export async function connect(urlOrLink, options = {}) {
  if (typeof urlOrLink !== "string") return deviceOver(urlOrLink, options);
  const u = parseLinkUrl(urlOrLink);
  if (u.kind !== "ws") {
    throw new LinkError(`cannot connect to ${urlOrLink} from a browser: it reaches ws:// and wss:// URLs (and serial ports through connectSerial)`);
  }
  return connectWebSocket(u.url, options);
}
