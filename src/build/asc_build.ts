/**
 * Builds an AssemblyScript guest with the in-process compiler from npm
 * `assemblyscript`. The flags are fixed so the same sources give the same
 * bytes on every machine:
 *
 * - `--runtime stub` (default): a bump allocator that never frees. A guest
 *   gets a fresh instance per step and its memory is zero-filled or dropped
 *   afterwards, so a garbage collector only costs size and time. `incremental` (TLSF + GC)
 *   is there for guests that churn through more memory than the manifest's
 *   `limits.memory` within one step.
 * - `--optimizeLevel 3 --shrinkLevel 0`: the fastest code; guests are small
 *   either way.
 * - assertions stay (no `--noAssert`): a failed `assert`, an out-of-range
 *   index or a bad cast calls `env.abort`, which the host turns into a
 *   failed step with code `trap` and the message, file and line. Without
 *   them the guest would carry on with wrong data.
 * - `abort` is AssemblyScript's default, imported as `env.abort(msg, file,
 *   line, column)`, which the host implements; no `--use abort=...` needed.
 * - `--exportStart _initialize`: top-level code runs when the runtime calls
 *   `_initialize` after the guest's memory is attached, not inside
 *   `new WebAssembly.Instance`, where host functions cannot reach memory yet.
 * - no `--exportRuntime`, no bindings, no `asconfig.json` (it is ignored, so
 *   a stray config cannot change the output), paths relative to the entry's
 *   folder (file names compiled into abort messages do not depend on where
 *   the repository lives).
 * - a `wasm-broker.memory` custom section declares `{"reuse":"any_size"}`:
 *   both runtimes start allocating at the heap base and use the memory they
 *   are given before growing it, so the runtime may hand a step a larger,
 *   zero-filled memory an earlier step grew (src/runtime/memory_pool.ts).
 * - after compiling, the module's data segments are merged
 *   ({@link mergeDataSegments}): the compiler emits one per static object,
 *   and V8 pays for each one on every `new WebAssembly.Instance` (~45 µs
 *   less per fresh instance of a catalog guest). Same memory contents, same
 *   code; a deterministic rewrite, so builds stay reproducible.
 *
 * @module
 */
import { WasmBrokerError } from "../errors.ts";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { withMemoryReuse } from "../runtime/host_memory.ts";
import { mergeDataSegments } from "./merge_data_segments.ts";

/** Runtime variants a guest can be built with (see the module doc). */
export type AscRuntime = "stub" | "incremental";

/** Options for {@link buildAssemblyScript}. */
export interface BuildAssemblyScriptOptions {
  /** Memory management compiled in; defaults to `"stub"`. */
  runtime?: AscRuntime;
  /** Also return the WebAssembly text format (for reading; not part of the digest). */
  text?: boolean;
  /**
   * Keep function names (`--debug`) so traps name the function that trapped.
   * Larger output; defaults to false.
   */
  debug?: boolean;
  /**
   * A directory of library files compiled into the guest (`asc --lib`): their
   * `@global` declarations become builtins for every source, which is how the
   * catalog's portable core gets its platform primitives.
   */
  lib?: string;
}

/** One compiler message. */
export interface AscDiagnostic {
  category: "error" | "warning" | "info";
  /** AssemblyScript's diagnostic code (TS-compatible numbers, e.g. 1005). */
  code: number;
  message: string;
  /** Absolute path of the file, `~lib/...` for the standard library, null when unknown. */
  file: string | null;
  /** 1-based line and column; 0 when the message has no position. */
  line: number;
  column: number;
}

/** Result of {@link buildAssemblyScript}. */
export interface AscBuildResult {
  binary: Uint8Array<ArrayBuffer>;
  /** WebAssembly text, when `options.text` was set. */
  text?: string;
  /** Warnings and infos (errors fail the build). */
  diagnostics: AscDiagnostic[];
  /** The exact arguments the compiler ran with. */
  args: readonly string[];
  /** Absolute paths of the source files the compiler read. */
  sources: string[];
  /** Wall-clock milliseconds spent compiling (includes loading the compiler on first use). */
  buildMs: number;
}

/** The build failed; {@link diagnostics} lists every error with file, line and column. */
export class AscBuildError extends WasmBrokerError {
  readonly entry: string;
  readonly diagnostics: readonly AscDiagnostic[];

  constructor(entry: string, diagnostics: readonly AscDiagnostic[], fallback: string) {
    const errors = diagnostics.filter((d) => d.category === "error");
    const lines = errors.length ? errors.map(formatDiagnostic) : [fallback];
    super(
      "build_failed",
      `Cannot build "${entry}" as AssemblyScript reports ${lines.length} error${
        lines.length === 1 ? "" : "s"
      }:\n  ${lines.join("\n  ")}`,
      { details: { entry, errors: errors.length } },
    );
    this.name = "AscBuildError";
    this.entry = entry;
    this.diagnostics = diagnostics;
  }
}

/** `file:line:column - error TS1005: message`. */
export function formatDiagnostic(d: AscDiagnostic): string {
  const where = d.file ? `${d.file}${d.line ? `:${d.line}:${d.column}` : ""} - ` : "";
  return `${where}${d.category} TS${d.code}: ${d.message}`;
}

/** The fixed flags, after the runtime; see the module doc for each choice. */
const FIXED_FLAGS = [
  "--optimizeLevel",
  "3",
  "--shrinkLevel",
  "0",
  "--exportStart",
  "_initialize",
  "--noColors",
] as const;

const OUT_FILE = "guest.wasm";
const TEXT_FILE = "guest.wat";
const CATEGORIES = ["info", "info", "warning", "error"] as const;

type Asc = typeof import("assemblyscript/asc").default;
let compiler: Promise<Asc> | null = null;
// The compiler keeps Binaryen settings in globals: run one build at a time.
let queue: Promise<unknown> = Promise.resolve();

function loadCompiler(): Promise<Asc> {
  compiler ??= import("assemblyscript/asc").then((m) => m.default);
  return compiler;
}

/**
 * Compiles an AssemblyScript entry file to a guest module. Imports are
 * resolved relative to the entry (`../../sdk/index` reaches the SDK from
 * `catalog/examples/<name>/`). Throws {@link AscBuildError} with every
 * error's file and line when the sources do not compile, and a `TypeError`
 * when `entry` is not a `.ts` file.
 *
 * @example
 * ```ts ignore
 * import { buildAssemblyScript } from "./asc_build.ts";
 * const { binary } = await buildAssemblyScript("catalog/examples/echo/echo.ts");
 * const module = new WebAssembly.Module(binary);
 * console.assert(WebAssembly.Module.exports(module).some((e) => e.name === "run"));
 * ```
 */
export function buildAssemblyScript(
  entry: string,
  options: BuildAssemblyScriptOptions = {},
): Promise<AscBuildResult> {
  const run = queue.then(() => build(entry, options));
  queue = run.catch(() => {});
  return run;
}

async function build(entry: string, options: BuildAssemblyScriptOptions): Promise<AscBuildResult> {
  if (!entry.endsWith(".ts")) {
    throw new TypeError(`Cannot build "${entry}" as the entry must be a .ts file`);
  }
  const runtime = options.runtime ?? "stub";
  if (runtime !== "stub" && runtime !== "incremental") {
    throw new TypeError(
      `Cannot build "${entry}" as runtime must be "stub" or "incremental": current value is "${runtime}"`,
    );
  }
  const started = performance.now();
  const entryPath = resolve(entry);
  if (!(await isFile(entryPath))) {
    // The compiler would say "File 'x.ts' not found" without saying where it looked.
    throw new AscBuildError(entry, [{
      category: "error",
      code: 6054,
      message: `File '${entryPath}' not found.`,
      file: null,
      line: 0,
      column: 0,
    }], "entry not found");
  }
  const asc = await loadCompiler();
  const baseDir = dirname(entryPath);
  const args = [
    relative(baseDir, entryPath),
    "--outFile",
    OUT_FILE,
    ...(options.text ? ["--textFile", TEXT_FILE] : []),
    "--runtime",
    runtime,
    ...FIXED_FLAGS,
    ...(options.debug ? ["--debug"] : []),
    ...(options.lib ? ["--lib", relative(baseDir, resolve(options.lib))] : []),
  ];

  const texts = new Map<string, string>(); // as the compiler names them → text
  const sources: string[] = [];
  const outputs = new Map<string, Uint8Array | string>();
  const diagnostics: AscDiagnostic[] = [];
  const result = await asc.main([...args, "--baseDir", baseDir], {
    stdout: asc.createMemoryStream(),
    stderr: asc.createMemoryStream(),
    readFile: async (name, dir) => {
      // Only sources: asconfig.json (and package.json lookups) are ignored on purpose.
      if (!name.endsWith(".ts")) return null;
      const path = resolve(baseDir, dir, name);
      try {
        const text = await Deno.readTextFile(path);
        texts.set(name, text);
        sources.push(path);
        return text;
      } catch (error) {
        if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.IsADirectory) {
          return null;
        }
        throw error;
      }
    },
    writeFile: (name, contents) => {
      outputs.set(name, contents);
    },
    listFiles: async (dir, base) => {
      // Only the --lib directory is ever listed; sorted so builds do not depend on readdir order.
      const names: string[] = [];
      try {
        for await (const entry of Deno.readDir(resolve(base, dir))) {
          if (entry.isFile && entry.name.endsWith(".ts")) names.push(entry.name);
        }
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return null;
        throw error;
      }
      return names.sort();
    },
    reportDiagnostic: (d) => {
      const path = d.range?.source.normalizedPath ?? null;
      const text = path === null ? undefined : texts.get(path);
      const { line, column } = text !== undefined && d.range
        ? position(text, d.range.start)
        : { line: 0, column: 0 };
      diagnostics.push({
        category: CATEGORIES[d.category] ?? "error",
        code: d.code,
        message: d.message,
        file: path === null
          ? null
          : path.startsWith("~lib/") || isAbsolute(path)
          ? path
          : resolve(baseDir, path),
        line,
        column,
      });
    },
  });
  const binary = outputs.get(OUT_FILE);
  if (result.error || !(binary instanceof Uint8Array)) {
    throw new AscBuildError(
      entry,
      diagnostics,
      result.error?.message ?? "the compiler wrote no module",
    );
  }
  const text = outputs.get(TEXT_FILE);
  return {
    // Both runtimes allocate from the heap base and use the memory they find.
    binary: withMemoryReuse(mergeDataSegments(binary).binary, "any_size") as Uint8Array<
      ArrayBuffer
    >,
    ...(options.text
      ? { text: typeof text === "string" ? text : new TextDecoder().decode(text) }
      : {}),
    diagnostics,
    args,
    sources,
    buildMs: performance.now() - started,
  };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** 1-based line and column of a UTF-16 offset. */
function position(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}
