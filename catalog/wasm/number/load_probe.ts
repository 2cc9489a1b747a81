/**
 * Builds `probe.ts` (an AssemblyScript module that exports the wasm build's
 * `formatF64`/`parseF64` from `catalog/wasm/lib`) with the catalog's flags
 * and wraps it for tests and benchmarks.
 *
 * @module
 */
import asc from "assemblyscript/asc";
import { WasmBrokerError } from "../../../src/errors.ts";
import { readdir, readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const STRING_ID = 2; // idof<String>() in every AssemblyScript module

/** The exports of probe.ts. */
export interface ProbeExports {
  memory: WebAssembly.Memory;
  __new(size: number, id: number): number;
  fmt(x: number): number;
  parse(text: number): number;
  reset(): void;
  input(): number;
  formatAll(count: number): number;
  parseAll(list: number, count: number): number;
}

/** One instance of the probe with string marshalling. */
export class NumberProbe {
  readonly exports: ProbeExports;

  constructor(module: WebAssembly.Module) {
    const instance = new WebAssembly.Instance(module, {
      env: {
        abort: (message: number, file: number, line: number, column: number) => {
          const where = `${this.readString(file)}:${line}:${column}`;
          throw new WasmBrokerError(
            "internal",
            `Cannot continue the number text probe as it aborted at ${where}: ${
              this.readString(message)
            }`,
          );
        },
      },
    });
    this.exports = instance.exports as unknown as ProbeExports;
  }

  /** `formatF64(x)` in wasm. */
  format(x: number): string {
    return this.readString(this.exports.fmt(x));
  }

  /** `parseF64(text)` in wasm. */
  parse(text: string): number {
    return this.exports.parse(this.writeString(text));
  }

  /** Drops every heap allocation: call between batches so memory stays small. */
  reset(): void {
    this.exports.reset();
  }

  /** Copies `text` into a new AssemblyScript string and returns its pointer. */
  writeString(text: string): number {
    const pointer = this.exports.__new(text.length << 1, STRING_ID);
    const units = new Uint16Array(this.exports.memory.buffer, pointer, text.length);
    for (let i = 0; i < text.length; i++) units[i] = text.charCodeAt(i);
    return pointer;
  }

  /** Reads the AssemblyScript string at `pointer` (its byte length precedes it). */
  readString(pointer: number): string {
    const buffer = this.exports.memory.buffer;
    const length = new Uint32Array(buffer, pointer - 4, 1)[0] >>> 1;
    return String.fromCharCode.apply(null, Array.from(new Uint16Array(buffer, pointer, length)));
  }
}

let compiled: Promise<WebAssembly.Module> | null = null;

/**
 * Compiles probe.ts once per process (`-O3 --runtime stub --lib catalog/wasm/lib`,
 * as catalog guests are built, plus `--exportRuntime` for `__new`).
 *
 * @example
 * ```ts ignore
 * import { loadProbe } from "./load_probe.ts";
 * const probe = await loadProbe();
 * console.assert(probe.format(0.1) === "0.1");
 * ```
 */
export async function loadProbe(): Promise<NumberProbe> {
  compiled ??= compileProbe();
  return new NumberProbe(await compiled);
}

async function compileProbe(): Promise<WebAssembly.Module> {
  const outputs = new Map<string, Uint8Array | string>();
  const stderr = asc.createMemoryStream();
  const { error } = await asc.main([
    "catalog/wasm/number/probe.ts",
    "-O3",
    "--runtime",
    "stub",
    "--lib",
    "catalog/wasm/lib",
    "--exportRuntime",
    "--outFile",
    "probe.wasm",
    "--baseDir",
    ROOT,
  ], {
    stdout: asc.createMemoryStream(),
    stderr,
    // Paths resolve against the repository root, whatever the working directory.
    readFile: async (name, dir) => {
      try {
        return await readFile(resolve(ROOT, dir, name), "utf8");
      } catch {
        return null;
      }
    },
    listFiles: async (dir) => {
      try {
        return (await readdir(resolve(ROOT, dir))).filter((name) => name.endsWith(".ts"));
      } catch {
        return null;
      }
    },
    writeFile: (name, contents) => {
      outputs.set(name, contents);
    },
  });
  const binary = outputs.get("probe.wasm");
  if (error || !(binary instanceof Uint8Array)) {
    throw new WasmBrokerError(
      "build_failed",
      `Cannot build the number text probe as asc failed: ${stderr.toString()}`,
    );
  }
  return new WebAssembly.Module(new Uint8Array(binary));
}
