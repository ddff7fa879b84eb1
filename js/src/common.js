// What every entry point of the package exports (after it loaded the WebAssembly core).

export * from "./errors.js";
export { parseLinkUrl, DEFAULT_BAUD } from "./url.js";
export { Peer } from "./peer.js";
export { Device, ItemStream, deviceOver } from "./device.js";
export { wasm } from "./wasm.js";
export { Service, KINDS } from "./service.js";
export { serve } from "./serve.js";
export { typescript } from "./types.js";
