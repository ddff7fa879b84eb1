// Links of the web platform: a WebSocket (browsers, and Node where `globalThis.WebSocket`
// exists) and a Web Serial port (Chromium), each with the face a Peer drives (peer.js),
// and the connect functions that open a Device over them.

export { connectWebSocket, webSocketLink, WebSocketLink, WS_HIGH_WATER, WS_MAX_PAUSED } from "./websocket.js";
export { connectSerial, webSerialLink, WebSerialLink, MAX_REOPENS_IN_A_ROW } from "./webserial.js";
