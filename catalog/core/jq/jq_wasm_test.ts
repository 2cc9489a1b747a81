// The wasm build of the jq engine (jq_wasm_probe.ts, compiled with asc
// -O3 --runtime stub and the exact number text of catalog/wasm/lib) against
// the native build: every hand-written corpus case, a sample of the
// generated ones and a few large inputs must give byte-identical reports.
import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { generatedCases, handWrittenCases } from "../../../tests/fixtures/jq_corpus/corpus.ts";
import { runJqText } from "./run_jq_text.ts";

const ROOT = new URL("../../../", import.meta.url);
const PROBE = "catalog/core/jq/jq_wasm_probe.ts";
const LIB = "catalog/wasm/lib";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

let probeModule: Promise<WebAssembly.Module> | null = null;

/**
 * Builds the probe once per test run, in a child process: the compiler's
 * portable shim and catalog/native/portable_runtime.ts both install the
 * AssemblyScript builtins as globals, so they cannot share a realm.
 */
function compileProbe(): Promise<WebAssembly.Module> {
  probeModule ??= (async () => {
    const out = await Deno.makeTempFile({ suffix: ".wasm" });
    try {
      const builder = new URL("src/build/asc_build.ts", ROOT).href;
      const script = [
        `import { buildAssemblyScript } from ${JSON.stringify(builder)};`,
        `const { binary } = await buildAssemblyScript(${JSON.stringify(PROBE)}, { lib: ${
          JSON.stringify(LIB)
        } });`,
        `await Deno.writeFile(${JSON.stringify(out)}, binary);`,
      ].join("\n");
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["eval", script],
        cwd: ROOT,
        stdout: "null",
        stderr: "piped",
      }).output();
      if (code !== 0) throw new Error(`Cannot build ${PROBE}:\n${decoder.decode(stderr)}`);
      return new WebAssembly.Module(await Deno.readFile(out));
    } finally {
      await Deno.remove(out);
    }
  })();
  return probeModule;
}

interface ProbeExports {
  memory: WebAssembly.Memory;
  _initialize(): void;
  alloc(len: number): number;
  run(filterPtr: number, filterLen: number, inputPtr: number, inputLen: number): number;
  outputPtr(): number;
}

/** A fresh instance (the stub runtime never frees: one per batch of runs). */
async function newProbe(): Promise<ProbeExports> {
  const instance = new WebAssembly.Instance(await compileProbe(), {
    env: {
      abort(_msg: number, _file: number, line: number, column: number) {
        throw new Error(`guest aborted at line ${line}:${column}`);
      },
    },
  });
  const probe = instance.exports as unknown as ProbeExports;
  probe._initialize();
  return probe;
}

function copyIn(probe: ProbeExports, bytes: Uint8Array): number {
  const ptr = probe.alloc(bytes.length);
  new Uint8Array(probe.memory.buffer, ptr, bytes.length).set(bytes);
  return ptr;
}

function wasmRun(probe: ProbeExports, filter: string, input: string): string {
  const f = encoder.encode(filter);
  const i = encoder.encode(input);
  const fp = copyIn(probe, f);
  const ip = copyIn(probe, i);
  const n = probe.run(fp, f.length, ip, i.length);
  return decoder.decode(new Uint8Array(probe.memory.buffer, probe.outputPtr(), n));
}

async function compareAll(cases: { filter: string; input: string; source: string }[]) {
  const diffs: string[] = [];
  let probe = await newProbe();
  for (let i = 0; i < cases.length; i++) {
    if (i > 0 && i % 200 === 0) probe = await newProbe();
    const c = cases[i];
    const wasm = wasmRun(probe, c.filter, c.input);
    const native = runJqText(c.filter, c.input);
    if (wasm !== native) {
      diffs.push(`${c.source}: ${c.filter}\n  wasm:   ${wasm}\n  native: ${native}`);
    }
  }
  return diffs;
}

Deno.test("jq wasm build gives the native build's bytes on every hand-written corpus case", async () => {
  const cases = await handWrittenCases();
  assert.ok(cases.length >= 300);
  const diffs = await compareAll(cases);
  assert.deepEqual(diffs.slice(0, 10), [], `${diffs.length} differences`);
});

Deno.test("jq wasm build gives the native build's bytes on a sample of generated cases", async () => {
  const all = generatedCases();
  const sample = all.filter((_, i) => i % 7 === 0);
  const diffs = await compareAll(sample);
  assert.deepEqual(diffs.slice(0, 10), [], `${diffs.length} differences`);
});

Deno.test("jq wasm build agrees with the native build on a large envelope", async () => {
  const items = Array.from({ length: 3000 }, (_, i) => ({
    id: i,
    name: `item ${i} é😀`,
    price: (i * 7919 % 1000) / 10,
    tags: ["a", `t${i % 5}`],
  }));
  const input = JSON.stringify({ context: { run: 1 }, items });
  const filters = [
    ".items | map(.price) | add",
    "[.items[] | select(.price > 50) | {id, name}] | length",
    ".items | group_by(.tags[1]) | map({key: .[0].tags[1], n: length})",
    "reduce .items[] as $x ({}; .[$x.tags[1]] += $x.price)",
    "reduce .items[] as $x ([]; . + [$x.id]) | length",
    'reduce .items[] as $x (""; . + ($x.id | tostring)) | length',
    '[.items[].name] | join(",") | gsub("item"; "x") | length',
    '[.items[].name | test("9")] | map(select(.)) | length',
    ".items |= map(.price |= . * 2) | .items[-1]",
    "[paths] | length",
    "tojson | fromjson | .items | length",
    ".items | INDEX(.id) | keys | length",
  ];
  const probe = await newProbe();
  for (const f of filters) {
    assert.equal(wasmRun(probe, f, input), runJqText(f, input), f);
  }
});

Deno.test("jq wasm build reports deep recursion as a runtime error, not a trap", async () => {
  const probe = await newProbe();
  const filter = "def r: if . > 0 then . - 1 | r else 0 end; r";
  const report = JSON.parse(wasmRun(probe, filter, "100000"));
  assert.equal(report.error.code, "runtime");
  assert.match(report.error.message, /^Cannot evaluate the filter as it nests deeper than/);
  assert.equal(wasmRun(probe, filter, "100000"), runJqText(filter, "100000"));
});
