// The WebAssembly module's exports (Engine, Schema, manifestHash), set once by the entry
// point of the platform (src/node.js reads the module from disk, src/browser.js fetches
// it), so that the rest of the package is the same code everywhere.

let exports = null;

/** Called by an entry point with the initialised wasm-bindgen module. */
export function useWasm(module) {
  exports = module;
}

/** The wasm-bindgen exports; throws if no entry point set them. */
export function wasm() {
  if (!exports) throw new Error("wirecall: import the package through its entry point (\"wirecall\"), which loads the WebAssembly module");
  return exports;
}
