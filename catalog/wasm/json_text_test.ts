// The wasm build of the catalog's JSON text code against the native build:
// the same inputs must give byte-identical output (values, pretty text and
// error reports alike), and guest_io.ts must carry envelopes, results and
// failures through the real `io` capability.
import "../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { ioPlugin } from "../../plugins/io/mod.ts";
import { CapabilityRegistry } from "../../src/capability/capability_registry.ts";
import { parseManifest } from "../../src/manifest/manifest.ts";
import { prepareGuest } from "../../src/runtime/prepared_guest.ts";
import { runStep } from "../../src/runtime/run_step.ts";
import { parseJson } from "../core/json_parse.ts";
import { JsonValue } from "../core/json_value.ts";
import { writeJson, writeJsonPretty } from "../core/json_write.ts";
import {
  mutateText,
  sampleEnvelope,
  sampleJson,
  sampleString,
  seededRandom,
} from "../native/json_samples.ts";

const ROOT = new URL("../../", import.meta.url);
const PROBE = "catalog/wasm/json_roundtrip_probe.ts";
const LIB = "catalog/wasm/lib";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

let probeBinary: Promise<Uint8Array<ArrayBuffer>> | null = null;
let probeModule: Promise<WebAssembly.Module> | null = null;

/**
 * Builds the probe once per test run, in a child process: the compiler's
 * own portable shim and catalog/native/portable_runtime.ts both install the
 * AssemblyScript builtins (i32, ASC_TARGET, ...) as JS globals and each
 * skips its setup when the other ran first, so they cannot share a realm.
 */
function buildProbe(): Promise<Uint8Array<ArrayBuffer>> {
  probeBinary ??= (async () => {
    const out = await Deno.makeTempFile({ suffix: ".wasm" });
    try {
      const builder = new URL("src/build/asc_build.ts", ROOT).href;
      const script = [
        `import { buildAssemblyScript } from ${JSON.stringify(builder)};`,
        `const options = { lib: ${JSON.stringify(LIB)} };`,
        `const { binary } = await buildAssemblyScript(${JSON.stringify(PROBE)}, options);`,
        `await Deno.writeFile(${JSON.stringify(out)}, binary);`,
      ].join("\n");
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["eval", script],
        cwd: ROOT,
        stdout: "null",
        stderr: "piped",
      }).output();
      if (code !== 0) throw new Error(`Cannot build ${PROBE}:\n${decoder.decode(stderr)}`);
      return await Deno.readFile(out);
    } finally {
      await Deno.remove(out);
    }
  })();
  return probeBinary;
}

function compileProbe(): Promise<WebAssembly.Module> {
  probeModule ??= buildProbe().then((binary) => new WebAssembly.Module(binary));
  return probeModule;
}

interface ProbeExports {
  memory: WebAssembly.Memory;
  _initialize(): void;
  alloc(len: number): number;
  decode(ptr: number, len: number): void;
  parseWithDepth(maxDepth: number): number;
  write(indent: number): number;
  encode(): number;
  outputPtr(): number;
  stream(): void;
}

/** An AssemblyScript string (UTF-16, byte length in the 4 bytes before it). */
function ascString(memory: WebAssembly.Memory, ptr: number): string {
  if (ptr === 0) return "";
  const bytes = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
  return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, bytes >>> 1));
}

/**
 * A fresh probe instance (the `stub` runtime never frees: one per batch of
 * work). `onOutput` receives each `io.write_output` chunk, copied.
 */
async function newProbe(onOutput?: (chunk: Uint8Array) => void): Promise<ProbeExports> {
  const refuse = () => {
    throw new Error("the io capability is not linked in this test");
  };
  let memory: WebAssembly.Memory | null = null;
  const instance = new WebAssembly.Instance(await compileProbe(), {
    env: {
      abort(msg: number, file: number, line: number, column: number) {
        throw new Error(
          `guest aborted: ${ascString(memory!, msg)} at ${
            ascString(memory!, file)
          }:${line}:${column}`,
        );
      },
    },
    io: {
      input_len: refuse,
      read_input: refuse,
      write_output: onOutput
        ? (ptr: number, len: number) => {
          onOutput(new Uint8Array(memory!.buffer, ptr, len).slice());
          return 0;
        }
        : refuse,
      fail: refuse,
    },
  });
  const probe = instance.exports as unknown as ProbeExports;
  memory = probe.memory;
  probe._initialize();
  return probe;
}

/** Copies UTF-8 `bytes` into the probe and decodes them to its text. */
function load(probe: ProbeExports, bytes: Uint8Array): void {
  const ptr = probe.alloc(bytes.length);
  new Uint8Array(probe.memory.buffer, ptr, bytes.length).set(bytes);
  probe.decode(ptr, bytes.length);
}

/** Parses and writes in wasm: the output bytes, or the error report `{error, offset}`. */
function wasmRoundTrip(probe: ProbeExports, bytes: Uint8Array, indent = 0, maxDepth = -1) {
  load(probe, bytes);
  probe.parseWithDepth(maxDepth);
  probe.write(indent);
  const n = probe.encode();
  return new Uint8Array(probe.memory.buffer, probe.outputPtr(), n).slice();
}

/** The same in the native build. */
function nativeRoundTrip(bytes: Uint8Array, indent = 0, maxDepth = -1): Uint8Array {
  const text = decoder.decode(bytes);
  const result = maxDepth < 0 ? parseJson(text) : parseJson(text, maxDepth);
  const out = result.value != null ? writeJsonPretty(result.value, indent) : writeJson(
    JsonValue.object()
      .set("error", JsonValue.string(result.error!))
      .set("offset", JsonValue.number(result.offset)),
  );
  return encoder.encode(out);
}

function assertSameBytes(wasm: Uint8Array, native: Uint8Array, input: Uint8Array): void {
  if (wasm.length === native.length && wasm.every((b, i) => b === native[i])) return;
  const [w, n] = [decoder.decode(wasm), decoder.decode(native)];
  let at = 0;
  while (at < w.length && at < n.length && w[at] === n[at]) at++;
  const around = (s: string) => JSON.stringify(s.slice(Math.max(0, at - 40), at + 40));
  assert.fail(
    w === n
      ? "wasm and native wrote the same text as different bytes"
      : `wasm and native differ at character ${at}: wasm ${around(w)}, native ${around(n)}; ` +
        `input (${input.length} bytes) starts ${
          JSON.stringify(decoder.decode(input.subarray(0, 120)))
        }`,
  );
}

/** Compares both builds on `count` generated values, compact and pretty. */
async function compareGenerated(seed: number, count: number, numbers: "any" | "integers") {
  const random = seededRandom(seed);
  let probe = await newProbe();
  for (let i = 0; i < count; i++) {
    if (i % 500 === 499) probe = await newProbe();
    const value = sampleJson(random, { numbers });
    const indent = i % 4;
    const bytes = encoder.encode(
      indent ? JSON.stringify(value, null, indent) : JSON.stringify(value),
    );
    const native = nativeRoundTrip(bytes, indent);
    assertSameBytes(wasmRoundTrip(probe, bytes, indent), native, bytes);
    // And the native build agrees with V8.
    assert.equal(decoder.decode(native), JSON.stringify(value, null, indent));
  }
}

Deno.test("the wasm build writes the same bytes as the native build for generated integers and strings", async () => {
  await compareGenerated(2026, 2000, "integers");
});

// Needs the exact formatF64/parseF64 of catalog/wasm/lib (AssemblyScript's own differ from V8's).
Deno.test("the wasm build writes the same bytes as the native build for arbitrary doubles", async () => {
  await compareGenerated(1124, 2000, "any");
});

Deno.test("the wasm result writer streams the same bytes as the portable writer, chunk seams included", async () => {
  const random = seededRandom(31);
  let chunks: Uint8Array[] = [];
  let probe = await newProbe((chunk) => chunks.push(chunk));
  // Many small values, then a few large ones whose output spans several
  // buffers, so multi-byte sequences and escapes fall on chunk boundaries.
  const values: unknown[] = Array.from({ length: 1500 }, () => sampleJson(random));
  for (let i = 0; i < 6; i++) {
    values.push(Array.from({ length: 3000 + 1000 * i }, () => sampleString(random, 40)));
  }
  values.push(
    "\ud800",
    "a\udc00b",
    "\ud83d\ude00\ud83d",
    '\u0000\u001f\u007f"\\/',
    0,
    -0,
    1e21,
    -5e-324,
  );
  let count = 0;
  for (const value of values) {
    if (++count % 300 === 0) probe = await newProbe((chunk) => chunks.push(chunk));
    const bytes = encoder.encode(JSON.stringify(value));
    load(probe, bytes);
    assert.equal(probe.parseWithDepth(-1), 1);
    chunks = [];
    probe.stream();
    const streamed = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((at, c) => (streamed.set(c, at), at + c.length), 0);
    assertSameBytes(streamed, nativeRoundTrip(bytes), bytes);
  }
});

Deno.test("the wasm build refuses malformed texts with the native build's message and offset", async () => {
  const probe = await newProbe();
  const fixed = [
    "",
    " ",
    "[1,]",
    '{"a":1,}',
    '{"a" 1}',
    "[1 2]",
    "01",
    "-",
    "1.e3",
    "1e+",
    '"abc',
    '"a\nb"',
    '"\\x"',
    '"\\u12G4"',
    "nul",
    "NaN",
    "[1] x",
    "\u00e9",
    "\u{1f600}",
  ];
  const random = seededRandom(404);
  const mutated = Array.from(
    { length: 2000 },
    () =>
      mutateText(random, JSON.stringify(sampleJson(random, { numbers: "integers", maxDepth: 3 }))),
  );
  let refused = 0;
  for (const text of [...fixed, ...mutated]) {
    const bytes = encoder.encode(text);
    const native = nativeRoundTrip(bytes);
    if (decoder.decode(native).startsWith('{"error":')) refused++;
    assertSameBytes(wasmRoundTrip(probe, bytes), native, bytes);
  }
  assert.ok(refused > 1000, `only ${refused} texts were malformed`);
});

Deno.test("the wasm build takes nesting to the limit and refuses deeper texts without trapping", async () => {
  const deep = (n: number) => encoder.encode("[".repeat(n) + "]".repeat(n));
  const probe = await newProbe();
  for (const bytes of [deep(10_000), deep(10_001), encoder.encode("[".repeat(1_000_000))]) {
    assertSameBytes(wasmRoundTrip(probe, bytes), nativeRoundTrip(bytes), bytes.subarray(0, 20));
  }
  assert.equal(decoder.decode(wasmRoundTrip(probe, deep(10_000))).length, 20_000);
  // A raised limit: the iterative parser and writer need no wasm stack for depth.
  const deeper = deep(300_000);
  assertSameBytes(wasmRoundTrip(probe, deeper, 0, 300_000), deeper, deeper.subarray(0, 20));
});

// The guest I/O boundary, run as the broker runs a step.
const registry = new CapabilityRegistry([ioPlugin()]);
const manifest = parseManifest({ capabilities: { io: {} } }, registry);
const step = { stepId: "s-1", handler: "json_probe", correlationId: "c-1" };

async function runProbe(input: Uint8Array) {
  const guest = prepareGuest(await buildProbe(), manifest, registry);
  return await runStep(guest, { input, step }, { registry });
}

Deno.test("readEnvelope() and writeResult() carry a 1 MB envelope through the io capability", async () => {
  const envelope = sampleEnvelope(seededRandom(77), 1 << 20, "integers");
  const outcome = await runProbe(encoder.encode(JSON.stringify(envelope)));
  assert.equal(outcome.error, null);
  assert.equal(outcome.status, "completed");
  assert.deepEqual(outcome.result, envelope);
  console.log(
    `run() on a 1 MB envelope: ${outcome.metrics.run_ms.toFixed(1)} ms, ` +
      `memory high water ${(outcome.metrics.memory_high_water_bytes / (1 << 20)).toFixed(1)} MiB`,
  );
});

Deno.test("readEnvelope() decodes ASCII runs of every length and alignment between multibyte characters", async () => {
  // Its ASCII fast path takes eight bytes at a time; the characters after a run start at every
  // offset modulo 8 and the runs end at every length, so each seam with the byte loop is crossed.
  const strings: string[] = [];
  for (let run = 0; run <= 24; run++) {
    for (const c of ["é", "€", "𝄞", "\u0000"]) {
      strings.push("a".repeat(run) + c + "b".repeat(run % 9) + c);
    }
  }
  const envelope = { strings, tail: "x".repeat(7) };
  const outcome = await runProbe(encoder.encode(JSON.stringify(envelope)));
  assert.equal(outcome.error, null);
  assert.deepEqual(outcome.result, envelope);
});

Deno.test("failStep() reports an envelope that is not JSON as a handler_error with code and details", async () => {
  const outcome = await runProbe(encoder.encode('{"a":1,}'));
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error?.code, "handler_error");
  assert.equal(
    outcome.error?.message,
    "the envelope is not JSON: expected a string key after ',' in an object at offset 7, found '}'",
  );
  assert.equal(outcome.error?.retryable, false);
  assert.deepEqual(outcome.error?.details, {
    guest_code: "envelope_invalid",
    guest_details: { offset: 7 },
  });
});

Deno.test("failStep() passes retryable and details, and omits an empty code", async () => {
  const fail = {
    message: "upstream 503 \u{1f4a5}",
    code: "",
    retryable: true,
    details_json: '{"status":503,"x":[1]}',
  };
  const outcome = await runProbe(encoder.encode(JSON.stringify({ fail })));
  assert.equal(outcome.error?.code, "handler_error");
  assert.equal(outcome.error?.message, fail.message);
  assert.equal(outcome.error?.retryable, true);
  assert.deepEqual(outcome.error?.details, { guest_details: { status: 503, x: [1] } });
});

Deno.test("failStep() still reports the failure when the host refuses its details", async () => {
  const fail = { message: "bad", code: "bad_config", details_json: '{"unterminated":' };
  const outcome = await runProbe(encoder.encode(JSON.stringify({ fail })));
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error?.message, "bad");
  assert.equal(outcome.error?.retryable, false);
  assert.deepEqual(outcome.error?.details, { guest_code: "bad_config" });
});

Deno.test("failStep() cuts message and code to the host's caps without splitting a surrogate pair", async () => {
  const random = seededRandom(3);
  const long = sampleString(random, 10) + "x".repeat(4095 - 10);
  for (const message of ["m".repeat(4095) + "\u{1f600}", "m".repeat(5000), long + "yyyyy"]) {
    const fail = { message, code: "c".repeat(99) + "\u{1f600}" };
    const outcome = await runProbe(encoder.encode(JSON.stringify({ fail })));
    assert.equal(outcome.error?.code, "handler_error", outcome.error?.message);
    const reported = outcome.error!.message;
    assert.ok(reported.length <= 4096 && message.startsWith(reported), reported.slice(-10));
    assert.ok(reported.length >= 4095);
    assert.equal(outcome.error?.details?.guest_code, "c".repeat(99));
  }
});

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

Deno.test("parse and write throughput of 10 KB and 1 MB envelopes of integers, native and wasm (printed)", async () => {
  await measureThroughput("integers", 1 << 20, 15);
  await measureThroughput("integers", 10 << 10, 200);
});

Deno.test("parse and write throughput of 10 KB and 1 MB envelopes with doubles, native and wasm (printed)", async () => {
  await measureThroughput("any", 1 << 20, 15);
  await measureThroughput("any", 10 << 10, 200);
});

/** Times both builds on one envelope; asserts only that the wasm output is right. */
async function measureThroughput(
  numbers: "any" | "integers",
  size: number,
  runs: number,
): Promise<void> {
  const text = JSON.stringify(sampleEnvelope(seededRandom(5), size, numbers));
  const bytes = encoder.encode(text);
  const native = { parse: [] as number[], write: [] as number[] };
  const wasm = {
    decode: [] as number[],
    parse: [] as number[],
    write: [] as number[],
    encode: [] as number[],
  };
  let out = new Uint8Array();
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    const value = parseJson(text).value!;
    native.parse.push(performance.now() - t);
    t = performance.now();
    writeJson(value);
    native.write.push(performance.now() - t);

    const probe = await newProbe(); // a fresh instance per step, as the broker runs guests
    const ptr = probe.alloc(bytes.length);
    new Uint8Array(probe.memory.buffer, ptr, bytes.length).set(bytes);
    t = performance.now();
    probe.decode(ptr, bytes.length);
    wasm.decode.push(performance.now() - t);
    t = performance.now();
    assert.equal(probe.parseWithDepth(-1), 1);
    wasm.parse.push(performance.now() - t);
    t = performance.now();
    probe.write(0);
    wasm.write.push(performance.now() - t);
    t = performance.now();
    const n = probe.encode();
    wasm.encode.push(performance.now() - t);
    out = new Uint8Array(probe.memory.buffer, probe.outputPtr(), n).slice();
  }
  assert.equal(decoder.decode(out), text);
  const mb = bytes.length / (1 << 20);
  const rate = (ms: number) => `${ms.toFixed(2)} ms (${(mb / ms * 1000).toFixed(0)} MB/s)`;
  const [np, nw] = [median(native.parse), median(native.write)];
  const [wd, wp, ww, we] = [
    median(wasm.decode),
    median(wasm.parse),
    median(wasm.write),
    median(wasm.encode),
  ];
  console.log(
    [
      `${size >= 1 << 20 ? `${size >> 20} MB` : `${size >> 10} KB`} envelope of ` +
      `${numbers === "any" ? "doubles" : "integers"} (${bytes.length} bytes), medians of ${runs}:`,
      `  native parseJson ${rate(np)}, writeJson ${rate(nw)}`,
      `  wasm   parseJson ${rate(wp)} (+ UTF-8 decode ${wd.toFixed(2)} ms), ` +
      `writeJson ${rate(ww)} (+ UTF-8 encode ${we.toFixed(2)} ms)`,
      `  wasm / native: parse ${(wp / np).toFixed(2)} (${
        ((wp + wd) / np).toFixed(2)
      } with decode), ` +
      `write ${(ww / nw).toFixed(2)} (${((ww + we) / nw).toFixed(2)} with encode)`,
    ].join("\n"),
  );
}
