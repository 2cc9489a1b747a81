/**
 * Builds an AssemblyScript guest:
 *
 * ```sh
 * deno run -A src/cli/build_guest.ts catalog/examples/greet/greet.ts -o greet.wasm
 * ```
 *
 * Prints the module's size, sha256, build time and the host functions it
 * imports (what its manifest must grant). Exit status: 0 built, 1 the
 * sources did not compile, 2 bad arguments.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";
import {
  AscBuildError,
  type AscRuntime,
  buildAssemblyScript,
  formatDiagnostic,
} from "../build/asc_build.ts";
import { sha256Hex } from "../runtime/runtime.ts";

const USAGE = `Usage: deno run -A src/cli/build_guest.ts <entry.ts> [-o out.wasm] [options]

Compiles an AssemblyScript guest with the in-process compiler and fixed flags,
so the same sources always give the same bytes (see docs/sdk.md).

Options:
  -o, --out <file>     Output module (default: build/<name>.wasm beside the entry)
      --runtime <name> stub (default: never frees, smallest) or incremental (TLSF + GC)
      --text <file>    Also write the WebAssembly text format
      --debug          Keep function names, so traps name the function that trapped
  -h, --help           Show this help
`;

/** Where {@link main} writes; the terminal by default. */
export interface BuildGuestIo {
  out(line: string): void;
  err(line: string): void;
}

const terminal: BuildGuestIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/**
 * Runs the command with `args` (without the program name); resolves with
 * the exit status.
 *
 * @example
 * ```ts ignore
 * import { main } from "./build_guest.ts";
 * const status = await main(["catalog/examples/echo/echo.ts", "-o", "/tmp/echo.wasm"]);
 * ```
 */
export async function main(args: string[], io: BuildGuestIo = terminal): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        out: { type: "string", short: "o" },
        runtime: { type: "string" },
        text: { type: "string" },
        debug: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    io.err(
      `Cannot build as exactly one entry file is needed: current value is ${
        JSON.stringify(positionals)
      }\n\n${USAGE}`,
    );
    return 2;
  }
  const runtime = values.runtime ?? "stub";
  if (runtime !== "stub" && runtime !== "incremental") {
    io.err(`Cannot build as --runtime must be stub or incremental: current value is "${runtime}"`);
    return 2;
  }
  const entry = positionals[0];
  if (!entry.endsWith(".ts")) {
    io.err(`Cannot build "${entry}" as the entry must be a .ts file`);
    return 2;
  }
  const out = values.out ?? join(dirname(entry), "build", basename(entry, ".ts") + ".wasm");

  let built;
  try {
    built = await buildAssemblyScript(entry, {
      runtime: runtime as AscRuntime,
      text: values.text !== undefined,
      debug: values.debug ?? false,
    });
  } catch (error) {
    if (error instanceof AscBuildError) {
      io.err(error.message);
      return 1;
    }
    throw error;
  }
  await Deno.mkdir(dirname(out), { recursive: true });
  await Deno.writeFile(out, built.binary);
  if (values.text !== undefined && built.text !== undefined) {
    await Deno.writeTextFile(values.text, built.text);
  }
  for (const d of built.diagnostics) io.err(formatDiagnostic(d));
  const module = new WebAssembly.Module(built.binary);
  const imports = WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}`).sort();
  const capabilities = [...new Set(imports.map((i) => i.split(".")[0]))]
    .filter((ns) => ns !== "env" && ns !== "wasi_snapshot_preview1");
  io.out(
    `built ${out}: ${built.binary.length} bytes, sha256 ${await sha256Hex(built.binary)}, ${
      Math.round(built.buildMs)
    } ms`,
  );
  io.out(`imports: ${imports.join(", ") || "(none)"}`);
  io.out(`capabilities to grant: ${capabilities.join(", ") || "(none)"}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
