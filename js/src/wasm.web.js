// Loads the WebAssembly core in a browser: fetched next to the glue (streaming compile, so
// the server must send it as application/wasm, which `wirecall web` does).
import init, * as glue from "../dist/wirecall_wasm.js";
import { useWasm } from "./wasm.js";

await init({ module_or_path: new URL("../dist/wirecall_wasm_bg.wasm", import.meta.url) });
useWasm(glue);
