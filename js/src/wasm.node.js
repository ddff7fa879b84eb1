// Loads the WebAssembly core in Node: synchronously, from the package's dist/ directory.
import { readFileSync } from "node:fs";
import * as glue from "../dist/wirecall_wasm.js";
import { useWasm } from "./wasm.js";

glue.initSync({ module: readFileSync(new URL("../dist/wirecall_wasm_bg.wasm", import.meta.url)) });
useWasm(glue);
