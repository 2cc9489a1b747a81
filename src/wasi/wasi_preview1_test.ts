import assert from "node:assert/strict";
import { z } from "zod";
import { ioPlugin } from "../../plugins/io/mod.ts";
import { logPlugin } from "../../plugins/log/mod.ts";
import { wat } from "../../tests/support/wat.ts";
import type { CapabilityPlugin } from "../capability/capability_plugin.ts";
import { CapabilityRegistry } from "../capability/capability_registry.ts";
import { GuestMemory } from "../capability/guest_memory.ts";
import { createStepClock, type VirtualClockOptions } from "../capability/step_clock.ts";
import { StepIo } from "../capability/step_io.ts";
import { StepLog } from "../capability/step_log.ts";
import { UnknownImportError } from "../errors.ts";
import { type Manifest, parseManifest } from "../manifest/manifest.ts";
import { prepareGuest } from "../runtime/prepared_guest.ts";
import { runStep } from "../runtime/run_step.ts";
import type { StepOutcome } from "../runtime/step_outcome.ts";
import { WASI_FUNCTIONS, WASI_NAMESPACE } from "./wasi_functions.ts";
import {
  createWasiImports,
  flushWasiStderr,
  WASI_FILETYPE_CHARACTER_DEVICE,
  WASI_IMPLEMENTED,
  WasiErrno,
  WasiRights,
} from "./wasi_preview1.ts";

// There is no time plugin yet: this stand-in only lets a manifest grant `time`,
// which the WASI clock and random functions require.
const timeGrant: CapabilityPlugin = {
  name: "time",
  description: "test stand-in that grants WASI clocks and randomness",
  schema: z.strictObject({}),
  functions: {},
  instantiate: () => ({}),
};
const registry = new CapabilityRegistry([ioPlugin(), logPlugin(), timeGrant]);
const granted = parseManifest({ capabilities: { io: {}, log: {}, time: {} } }, registry);
const step = { stepId: "s-1", handler: "echo", correlationId: "c-1" };
const encoder = new TextEncoder();

// Memory layout of the test guests: [0, 16) the $flush iovec, [16, 2048) scratch for the
// test body, [2048, 8192) the output buffer, [8192, ...) data segments.
const OUT = 2048;
const DATA = 8192;
/** Guests have two pages of memory: more than one getRandomValues call can fill. */
const PAGES = 2;
const END = PAGES * 65536;

/** An import declaration for a WASI function, with the signature from WASI_FUNCTIONS. */
function wasiImport(name: string): string {
  const spec = WASI_FUNCTIONS[name];
  const params = spec.params.length ? ` (param ${spec.params.join(" ")})` : "";
  const results = spec.results.length ? ` (result ${spec.results.join(" ")})` : "";
  return `(import "${WASI_NAMESPACE}" "${name}" (func $${name}${params}${results}))`;
}

/** WAT that appends the bytes of `text` (ASCII) to the output buffer. */
function text(value: string): string {
  return [...value].map((c) => `(call $ch (i32.const ${c.charCodeAt(0)}))`).join(" ");
}

/** An i32 expression widened for $num. */
const u32 = (expr: string) => `(i64.extend_i32_u ${expr})`;

interface GuestOptions {
  /** WASI functions to import besides fd_write. */
  imports?: string[];
  /** The body of `_start` (may begin with local declarations). */
  body: string;
  /** Data segments, as `[offset, string]`. */
  data?: [number, string][];
}

/**
 * A WASI command guest. Helpers: `$ch` appends a byte to the output buffer,
 * `$num` appends an unsigned decimal, `$flush` writes the buffer to fd 1.
 */
function guest(options: GuestOptions): Uint8Array {
  const imports = new Set(["fd_write", ...(options.imports ?? [])]);
  const data = (options.data ?? []).map(([at, s]) =>
    `(data (i32.const ${at}) "${
      s.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n").replaceAll(
        "\r",
        "\\r",
      )
    }")`
  );
  return wat(`(module
    ${[...imports].map(wasiImport).join("\n    ")}
    (memory (export "memory") ${PAGES})
    ${data.join("\n    ")}
    (global $out (mut i32) (i32.const ${OUT}))
    (func $ch (param $c i32)
      (i32.store8 (global.get $out) (local.get $c))
      (global.set $out (i32.add (global.get $out) (i32.const 1))))
    (func $num (param $v i64)
      (if (i64.ge_u (local.get $v) (i64.const 10))
        (then (call $num (i64.div_u (local.get $v) (i64.const 10)))))
      (call $ch (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10))))))
    (func $flush
      (i32.store (i32.const 0) (i32.const ${OUT}))
      (i32.store (i32.const 4) (i32.sub (global.get $out) (i32.const ${OUT})))
      (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
        (then unreachable))
      (global.set $out (i32.const ${OUT})))
    (func (export "_start")
      ${options.body}))`);
}

/** A guest that evaluates i64 expressions in order and outputs them as a JSON array. */
function resultsGuest(
  imports: string[],
  values: string[],
  setup = "",
  data: [number, string][] = [],
): Uint8Array {
  const items = values.map((v) => `(call $num ${v})`).join(` ${text(",")} `);
  return guest({
    imports,
    data,
    body: `${setup} ${text("[")} ${items} ${text("]")} (call $flush)`,
  });
}

interface RunOptions {
  input?: unknown;
  manifest?: Manifest;
  clock?: VirtualClockOptions;
}

function run(bytes: Uint8Array, options: RunOptions = {}): Promise<StepOutcome> {
  const manifest = options.manifest ?? granted;
  return runStep(
    prepareGuest(bytes, manifest, registry),
    { input: encoder.encode(JSON.stringify(options.input ?? {})), step, clock: options.clock },
    { registry },
  );
}

async function results(bytes: Uint8Array, options: RunOptions = {}): Promise<number[]> {
  const outcome = await run(bytes, options);
  assert.equal(outcome.error, null);
  return outcome.result as number[];
}

/** Stores iovecs `[buf, len]` at `at`. */
function iovecs(at: number, entries: [number, number][]): string {
  return entries.map(([buf, len], i) =>
    `(i32.store (i32.const ${at + i * 8}) (i32.const ${buf}))` +
    `(i32.store (i32.const ${at + i * 8 + 4}) (i32.const ${len}))`
  ).join(" ");
}

Deno.test("fd_write gathers iovecs into the step's output and reports the bytes written", async () => {
  const head = '{"text":"ab';
  const tail = 'cd"';
  const outcome = await run(guest({
    data: [[DATA, head], [DATA + 100, tail]],
    // A zero-length iovec touches no memory, so where it points does not matter.
    body: `${iovecs(16, [[DATA, head.length], [END + 4096, 0], [DATA + 100, tail.length]])}
      (i32.store (i32.const 44) (call $fd_write (i32.const 1) (i32.const 16) (i32.const 3) (i32.const 40)))
      ${text(',"errno":')} (call $num ${u32("(i32.load (i32.const 44))")})
      ${text(',"nwritten":')} (call $num ${u32("(i32.load (i32.const 40))")})
      ${text("}")} (call $flush)`,
  }));
  assert.equal(outcome.error, null);
  assert.deepEqual(outcome.result, {
    text: "abcd",
    errno: WasiErrno.SUCCESS,
    nwritten: head.length + tail.length,
  });
  assert.deepEqual(outcome.logs, []);
});

Deno.test("fd_write to stdout obeys limits.output_bytes and fails the step", async () => {
  const manifest = parseManifest(
    { capabilities: { io: {} }, limits: { output_bytes: 8 } },
    registry,
  );
  const outcome = await run(guest({ body: `${text('{"a":"123456"}')} (call $flush)` }), {
    manifest,
  });
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error?.code, "output_too_large");
  assert.equal(outcome.error?.details?.limit, 8);
});

Deno.test("fd_write to stderr becomes one info record per line, across writes", async () => {
  const outcome = await run(resultsGuest(
    [],
    [
      u32("(call $fd_write (i32.const 2) (i32.const 16) (i32.const 2) (i32.const 100))"),
      u32("(i32.load (i32.const 100))"),
      u32("(call $fd_write (i32.const 2) (i32.const 32) (i32.const 1) (i32.const 100))"),
      u32("(i32.load (i32.const 100))"),
    ],
    `${iovecs(16, [[DATA, 6], [DATA + 16, 5]])} ${iovecs(32, [[DATA + 32, 5]])}`,
    [[DATA, "one\ntw"], [DATA + 16, "o\nthr"], [DATA + 32, "ee\r\n\n"]],
  ));
  assert.equal(outcome.error, null);
  assert.deepEqual(outcome.result, [WasiErrno.SUCCESS, 11, WasiErrno.SUCCESS, 5]);
  assert.deepEqual(
    outcome.logs.map((r) => [r.level, r.message, r.fields]),
    [
      ["info", "one", { stream: "stderr" }],
      ["info", "two", { stream: "stderr" }],
      ["info", "three", { stream: "stderr" }],
      ["info", "", { stream: "stderr" }],
    ],
  );
  assert.equal(outcome.logs[0].step_id, "s-1");
});

Deno.test("fd_write cuts a stderr line longer than limits.log.line_bytes and marks it", async () => {
  const manifest = parseManifest({
    capabilities: { io: {}, log: {} },
    limits: { log: { line_bytes: 16 } },
  }, registry);
  const long = "x".repeat(100);
  const outcome = await run(
    guest({
      data: [[DATA, `${long}\nok\n`]],
      // The long line arrives in three writes of 40, 40 and 20 bytes plus its newline.
      body: `${iovecs(16, [[DATA, 40]])} ${iovecs(24, [[DATA + 40, 40]])} ${
        iovecs(32, [[DATA + 80, 24]])
      }
        (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 100)))
        (drop (call $fd_write (i32.const 2) (i32.const 24) (i32.const 1) (i32.const 100)))
        (drop (call $fd_write (i32.const 2) (i32.const 32) (i32.const 1) (i32.const 100)))
        ${text("0")} (call $flush)`,
    }),
    { manifest },
  );
  assert.equal(outcome.error, null);
  assert.equal(outcome.logs.length, 2);
  assert.equal(outcome.logs[0].message, "x".repeat(16));
  assert.equal(outcome.logs[0].truncated, true);
  assert.deepEqual(outcome.logs[0].fields, { stream: "stderr", original_bytes: 100 });
  assert.equal(outcome.logs[1].message, "ok");
  assert.equal(outcome.metrics.log.truncated, 1);
});

Deno.test("fd_close(2) emits a pending stderr line and later writes to fd 2 get EBADF", async () => {
  const outcome = await run(resultsGuest(
    ["fd_close"],
    [
      u32("(call $fd_close (i32.const 2))"),
      u32("(call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 100))"),
      u32("(call $fd_close (i32.const 2))"),
    ],
    `${iovecs(16, [[DATA, 7]])}
      (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 100)))`,
    [[DATA, "partial"]],
  ));
  assert.equal(outcome.error, null);
  assert.deepEqual(outcome.result, [WasiErrno.SUCCESS, WasiErrno.BADF, WasiErrno.BADF]);
  assert.deepEqual(outcome.logs.map((r) => r.message), ["partial"]);
});

/** Instantiates a guest directly, to observe stderr state that runStep does not expose. */
function instantiateDirect(bytes: Uint8Array, log: StepLog | null) {
  const module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  const memory = new GuestMemory();
  const io = new StepIo(new Uint8Array(), 1024);
  const names = WebAssembly.Module.imports(module).map((i) => i.name);
  const wasi = createWasiImports(
    { memory, io, log, clock: createStepClock({ startMs: 0 }), args: ["direct"] },
    names,
  );
  const instance = new WebAssembly.Instance(module, { [WASI_NAMESPACE]: wasi });
  memory.attach(instance.exports.memory as WebAssembly.Memory);
  (instance.exports._start as () => void)();
  return io;
}

const STDERR_TAIL = guest({
  data: [[DATA, "done\ntail"]],
  body: `${iovecs(16, [[DATA, 9]])}
    (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 100)))`,
});

Deno.test("flushWasiStderr() emits a trailing stderr line that lacks its newline, once", () => {
  const log = new StepLog(
    step,
    { lineBytes: 100, lines: 10, bytes: 1000, minLevel: "debug" },
    () => 0,
  );
  const io = instantiateDirect(STDERR_TAIL, log);
  assert.deepEqual(log.records.map((r) => r.message), ["done"]);
  assert.deepEqual(flushWasiStderr(io), { bytes: 9, lines: 2, discardedBytes: 0 });
  assert.deepEqual(log.records.map((r) => r.message), ["done", "tail"]);
  assert.deepEqual(log.records[1].fields, { stream: "stderr" });
  assert.deepEqual(flushWasiStderr(io), { bytes: 9, lines: 2, discardedBytes: 0 });
  assert.equal(log.records.length, 2);
});

Deno.test("flushWasiStderr() counts stderr bytes as discarded when the manifest grants no log", () => {
  const io = instantiateDirect(STDERR_TAIL, null);
  assert.deepEqual(flushWasiStderr(io), { bytes: 9, lines: 0, discardedBytes: 9 });
});

Deno.test("flushWasiStderr() reports nothing for a step that never wrote stderr", () => {
  assert.deepEqual(flushWasiStderr(new StepIo(new Uint8Array(), 10)), {
    bytes: 0,
    lines: 0,
    discardedBytes: 0,
  });
});

Deno.test("fd_write to stderr succeeds without a log grant and keeps no records", async () => {
  const manifest = parseManifest({ capabilities: { io: {} } }, registry);
  const outcome = await run(
    resultsGuest([], [
      u32("(call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 100))"),
      u32("(i32.load (i32.const 100))"),
    ], iovecs(16, [[DATA, 6]])),
    { manifest },
  );
  assert.deepEqual(outcome.result, [WasiErrno.SUCCESS, 6]);
  assert.deepEqual(outcome.logs, []);
});

Deno.test("fd_read delivers the input in small chunks until it returns 0", async () => {
  const input = { text: "hello, chunked world", n: [1, 2, 3] };
  const bytes = encoder.encode(JSON.stringify(input));
  const outcome = await run(
    guest({
      imports: ["fd_read"],
      // Each call reads into two 3-byte iovecs; the copy is written to stdout at the end.
      body: `(local $dst i32) (local $n i32)
        (local.set $dst (i32.const ${DATA}))
        (block $done (loop $next
          (i32.store (i32.const 16) (local.get $dst)) (i32.store (i32.const 20) (i32.const 3))
          (i32.store (i32.const 24) (i32.add (local.get $dst) (i32.const 3)))
          (i32.store (i32.const 28) (i32.const 3))
          (if (call $fd_read (i32.const 0) (i32.const 16) (i32.const 2) (i32.const 32))
            (then unreachable))
          (local.set $n (i32.load (i32.const 32)))
          (br_if $done (i32.eqz (local.get $n)))
          (local.set $dst (i32.add (local.get $dst) (local.get $n)))
          (br $next)))
        (i32.store (i32.const 0) (i32.const ${DATA}))
        (i32.store (i32.const 4) (i32.sub (local.get $dst) (i32.const ${DATA})))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))`,
    }),
    { input },
  );
  assert.equal(outcome.error, null);
  assert.deepEqual(outcome.result, input);
  assert.equal(outcome.metrics.host_calls["wasi.fd_read"], Math.ceil(bytes.length / 6) + 1);
});

Deno.test("fd_read and fd_write return EBADF for descriptors not open that way", async () => {
  const read = (fd: number) =>
    u32(`(call $fd_read (i32.const ${fd}) (i32.const 16) (i32.const 1) (i32.const 100))`);
  const write = (fd: number) =>
    u32(`(call $fd_write (i32.const ${fd}) (i32.const 16) (i32.const 1) (i32.const 100))`);
  const outcome = await run(
    resultsGuest(["fd_read", "fd_close", "fd_fdstat_get"], [
      read(1),
      read(2),
      read(3),
      read(-1),
      write(0),
      write(3),
      u32("(call $fd_close (i32.const 0))"),
      read(0),
      u32("(call $fd_close (i32.const 0))"),
      u32("(call $fd_fdstat_get (i32.const 0) (i32.const 200))"),
      u32("(call $fd_close (i32.const 3))"),
    ], iovecs(16, [[DATA, 4]])),
    { input: { a: 1 } },
  );
  const { BADF, SUCCESS } = WasiErrno;
  assert.deepEqual(outcome.result, [
    BADF,
    BADF,
    BADF,
    BADF,
    BADF,
    BADF,
    SUCCESS,
    BADF,
    BADF,
    BADF,
    BADF,
  ]);
});

Deno.test("out-of-bounds pointers fail the step with bad_pointer", async (t) => {
  const cases: [string, string[], string][] = [
    [
      "an fd_write iovec buffer past the end",
      [],
      `${iovecs(16, [[END - 6, 100]])}
      (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 100)))`,
    ],
    [
      "an fd_write iovec table past the end",
      [],
      `
      (drop (call $fd_write (i32.const 1) (i32.const ${END - 4}) (i32.const 2) (i32.const 100)))`,
    ],
    // 0x20000000 iovecs are 2^32 bytes: a host that wraps lengths to u32 would check 0 bytes.
    [
      "an iovec count whose table size overflows u32",
      [],
      `
      (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 0x20000000) (i32.const 100)))`,
    ],
    [
      "a negative (huge unsigned) iovec pointer",
      [],
      `${iovecs(16, [[-8, 4]])}
      (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 100)))`,
    ],
    [
      "an fd_write nwritten pointer past the end",
      [],
      `${iovecs(16, [[DATA, 1]])}
      (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const ${END - 3})))`,
    ],
    [
      "an fd_read buffer past the end",
      ["fd_read"],
      `${iovecs(16, [[END - 1, 2]])}
      (drop (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 100)))`,
    ],
    [
      "an fd_fdstat_get struct past the end",
      ["fd_fdstat_get"],
      `
      (drop (call $fd_fdstat_get (i32.const 1) (i32.const ${END - 16})))`,
    ],
    [
      "a clock_time_get result past the end",
      ["clock_time_get"],
      `
      (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const ${END - 4})))`,
    ],
    [
      "a random_get buffer past the end",
      ["random_get"],
      `
      (drop (call $random_get (i32.const ${END - 999}) (i32.const 1000)))`,
    ],
    [
      "an args_get buffer past the end",
      ["args_get"],
      `
      (drop (call $args_get (i32.const 16) (i32.const ${END - 2})))`,
    ],
  ];
  for (const [name, imports, body] of cases) {
    await t.step(name, async () => {
      const outcome = await run(guest({ imports, body: `${body} ${text("0")} (call $flush)` }), {
        input: { a: 1 },
      });
      assert.equal(outcome.status, "failed");
      assert.equal(outcome.error?.code, "bad_pointer");
    });
  }
});

Deno.test("clock_time_get and clock_res_get read a virtual clock deterministically", async () => {
  const time = (id: number) => [
    u32(`(call $clock_time_get (i32.const ${id}) (i64.const 1) (i32.const 100))`),
    "(i64.load (i32.const 100))",
  ];
  const res = (id: number) => [
    u32(`(call $clock_res_get (i32.const ${id}) (i32.const 100))`),
    "(i64.load (i32.const 100))",
  ];
  const bytes = resultsGuest(["clock_time_get", "clock_res_get"], [
    ...time(0),
    ...time(1),
    ...time(2),
    ...time(3),
    u32("(call $clock_time_get (i32.const 4) (i64.const 0) (i32.const 100))"),
    ...time(1),
    ...res(0),
    ...res(1),
    ...res(2),
    ...res(3),
    u32("(call $clock_res_get (i32.const 9) (i32.const 100))"),
  ]);
  const clock = { startMs: 5, tickNs: 10 };
  const first = await results(bytes, { clock });
  const { SUCCESS, INVAL } = WasiErrno;
  // Every reading advances the virtual clock by one tick; an invalid id reads nothing.
  assert.deepEqual(first, [
    ...[SUCCESS, 5_000_010],
    ...[SUCCESS, 20],
    ...[SUCCESS, 30],
    ...[SUCCESS, 40],
    INVAL,
    ...[SUCCESS, 50],
    ...[SUCCESS, 1_000_000],
    ...[SUCCESS, 1_000],
    ...[SUCCESS, 1_000],
    ...[SUCCESS, 1_000],
    INVAL,
  ]);
  assert.deepEqual(await results(bytes, { clock }), first);
});

Deno.test("clock_time_get reads the real wall clock when the step is not replayed", async () => {
  const bytes = resultsGuest(["clock_time_get"], [
    u32("(call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 100))"),
    "(i64.div_u (i64.load (i32.const 100)) (i64.const 1000000))",
  ]);
  const before = Date.now();
  const [errno, ms] = await results(bytes);
  const after = Date.now();
  assert.equal(errno, WasiErrno.SUCCESS);
  assert.ok(ms >= before && ms <= after, `${ms} outside [${before}, ${after}]`);
});

Deno.test("random_get fills the buffer from the step clock's seeded stream", async () => {
  const bytes = resultsGuest(
    ["random_get"],
    [
      u32("(call $random_get (i32.const 100) (i32.const 8))"),
      ...Array.from({ length: 8 }, (_, i) => u32(`(i32.load8_u (i32.const ${100 + i}))`)),
      u32("(call $random_get (i32.const 100) (i32.const 0))"),
    ],
  );
  const seeded = await results(bytes, { clock: { startMs: 0, seed: 7 } });
  const expected = new Uint8Array(8);
  createStepClock({ startMs: 0, seed: 7 }).fillRandom(expected);
  assert.deepEqual(seeded, [0, ...expected, 0]);
  assert.deepEqual(await results(bytes, { clock: { startMs: 0, seed: 7 } }), seeded);
  assert.notDeepEqual(await results(bytes, { clock: { startMs: 0, seed: 8 } }), seeded);
});

Deno.test("random_get fills large buffers from the real random source", async () => {
  // 100,000 bytes: more than one crypto.getRandomValues call (65,536) can fill.
  const bytes = resultsGuest(["random_get"], [
    u32(`(call $random_get (i32.const ${DATA}) (i32.const 100000))`),
    u32(`(i32.load (i32.const ${DATA + 99996}))`),
    u32(`(i32.load (i32.const ${DATA + 70000}))`),
  ]);
  const [errno, a, b] = await results(bytes);
  assert.equal(errno, WasiErrno.SUCCESS);
  // Both words past the first 65,536 bytes zero by chance: probability 2^-64.
  assert.ok(a !== 0 || b !== 0);
});

Deno.test("clock_time_get and random_get need the time capability", () => {
  const manifest = parseManifest({ capabilities: { io: {} } }, registry);
  for (const name of ["clock_time_get", "clock_res_get", "random_get"]) {
    assert.throws(
      () => prepareGuest(resultsGuest([name], []), manifest, registry),
      (e) =>
        e instanceof UnknownImportError && e.importName === name &&
        e.reason === "undeclared_capability",
    );
  }
});

Deno.test("fd_fdstat_get describes stdio as character devices with read or write rights", async () => {
  const stat = (fd: number) => [
    u32(`(call $fd_fdstat_get (i32.const ${fd}) (i32.const 200))`),
    u32("(i32.load8_u (i32.const 200))"),
    u32("(i32.load16_u (i32.const 202))"),
    "(i64.load (i32.const 208))",
    "(i64.load (i32.const 216))",
  ];
  const values = await results(
    resultsGuest(["fd_fdstat_get"], [
      ...stat(0),
      ...stat(1),
      ...stat(2),
      u32("(call $fd_fdstat_get (i32.const 3) (i32.const 200))"),
    ], "(memory.fill (i32.const 200) (i32.const 0xff) (i32.const 24))"),
  );
  const chr = WASI_FILETYPE_CHARACTER_DEVICE;
  const read = Number(WasiRights.FD_READ);
  const write = Number(WasiRights.FD_WRITE);
  assert.deepEqual(values, [
    ...[0, chr, 0, read, 0],
    ...[0, chr, 0, write, 0],
    ...[0, chr, 0, write, 0],
    WasiErrno.BADF,
  ]);
});

Deno.test("fd_seek and fd_tell on stdio return ESPIPE; no fd is a preopened directory", async () => {
  const values = await results(resultsGuest(
    ["fd_seek", "fd_tell", "fd_prestat_get", "fd_prestat_dir_name", "fd_close"],
    [
      u32("(call $fd_seek (i32.const 0) (i64.const 0) (i32.const 0) (i32.const 100))"),
      u32("(call $fd_seek (i32.const 1) (i64.const -1) (i32.const 2) (i32.const 100))"),
      u32("(call $fd_tell (i32.const 2) (i32.const 100))"),
      u32("(call $fd_seek (i32.const 3) (i64.const 0) (i32.const 0) (i32.const 100))"),
      u32("(call $fd_tell (i32.const 9) (i32.const 100))"),
      u32("(call $fd_prestat_get (i32.const 3) (i32.const 100))"),
      u32("(call $fd_prestat_get (i32.const 0) (i32.const 100))"),
      u32("(call $fd_prestat_dir_name (i32.const 3) (i32.const 100) (i32.const 10))"),
      u32("(call $fd_close (i32.const 0))"),
      u32("(call $fd_seek (i32.const 0) (i64.const 0) (i32.const 0) (i32.const 100))"),
    ],
  ));
  const { SPIPE, BADF, SUCCESS } = WasiErrno;
  assert.deepEqual(values, [SPIPE, SPIPE, SPIPE, BADF, BADF, BADF, BADF, BADF, SUCCESS, BADF]);
});

/** WASI functions that answer ENOTCAPABLE, with the positions of their fd parameters. */
const NOT_CAPABLE: Record<string, number[]> = {
  fd_advise: [0],
  fd_allocate: [0],
  fd_datasync: [0],
  fd_fdstat_set_flags: [0],
  fd_fdstat_set_rights: [0],
  fd_filestat_get: [0],
  fd_filestat_set_size: [0],
  fd_filestat_set_times: [0],
  fd_pread: [0],
  fd_pwrite: [0],
  fd_readdir: [0],
  fd_renumber: [0, 1],
  fd_sync: [0],
  path_create_directory: [0],
  path_filestat_get: [0],
  path_filestat_set_times: [0],
  path_link: [0, 4],
  path_open: [0],
  path_readlink: [0],
  path_remove_directory: [0],
  path_rename: [0, 3],
  path_symlink: [2],
  path_unlink_file: [0],
  sock_accept: [0],
  sock_recv: [0],
  sock_send: [0],
  sock_shutdown: [0],
  poll_oneoff: [],
  proc_raise: [],
};

/** A call of a WASI function with every argument `value`, except fd positions set by `fds`. */
function call(name: string, value: number, fds: Record<number, number> = {}): string {
  const args = WASI_FUNCTIONS[name].params.map((type, i) => `(${type}.const ${fds[i] ?? value})`);
  return u32(`(call $${name} ${args.join(" ")})`);
}

Deno.test("path_*, sock_* and other fd_* functions are not capable on stdio, EBADF elsewhere", async () => {
  const names = Object.keys(NOT_CAPABLE);
  const calls: [string, string, number][] = [];
  for (const name of names) {
    // Pointers 0 are fine: nothing is read or written.
    calls.push([name, call(name, 0), WasiErrno.NOTCAPABLE]);
    calls.push([name, call(name, 2), WasiErrno.NOTCAPABLE]);
    for (const position of NOT_CAPABLE[name]) {
      // Only this fd is bad; the others are stdin.
      calls.push([`${name} fd#${position}`, call(name, 0, { [position]: 9 }), WasiErrno.BADF]);
    }
  }
  const values = await results(resultsGuest(names, calls.map(([, expr]) => expr)));
  assert.deepEqual(
    values.map((errno, i) => [calls[i][0], errno]),
    calls.map(([label, , errno]) => [label, errno]),
  );
});

Deno.test("a closed stdio descriptor makes path and sock functions return EBADF", async () => {
  const values = await results(resultsGuest(["fd_close", "path_open", "sock_recv"], [
    u32("(call $fd_close (i32.const 0))"),
    call("path_open", 0),
    call("sock_recv", 0),
    call("path_open", 0, { 0: 2 }),
  ]));
  const { SUCCESS, BADF, NOTCAPABLE } = WasiErrno;
  assert.deepEqual(values, [SUCCESS, BADF, BADF, NOTCAPABLE]);
});

Deno.test("args_* give argv[0] = the handler name and environ_* an empty environment", async () => {
  const values = await results(resultsGuest(
    ["args_sizes_get", "args_get", "environ_sizes_get", "environ_get"],
    [
      u32("(call $args_sizes_get (i32.const 100) (i32.const 104))"),
      u32("(i32.load (i32.const 100))"),
      u32("(i32.load (i32.const 104))"),
      u32("(call $args_get (i32.const 120) (i32.const 300))"),
      u32("(i32.load (i32.const 120))"),
      ...Array.from({ length: 5 }, (_, i) => u32(`(i32.load8_u (i32.const ${300 + i}))`)),
      u32("(call $environ_sizes_get (i32.const 100) (i32.const 104))"),
      u32("(i32.load (i32.const 100))"),
      u32("(i32.load (i32.const 104))"),
      u32("(call $environ_get (i32.const 400) (i32.const 500))"),
      u32("(i32.load (i32.const 400))"),
    ],
    "(memory.fill (i32.const 100) (i32.const 0xff) (i32.const 500))",
  ));
  assert.deepEqual(values, [
    0,
    1,
    5,
    0,
    300,
    ...encoder.encode("echo\0"),
    0,
    0,
    0,
    0,
    0xffffffff,
  ]);
});

Deno.test("sched_yield succeeds; proc_raise and poll_oneoff are not capable", async () => {
  const values = await results(resultsGuest(["sched_yield", "proc_raise", "poll_oneoff"], [
    u32("(call $sched_yield)"),
    call("proc_raise", 15),
    u32("(call $poll_oneoff (i32.const 100) (i32.const 200) (i32.const 1) (i32.const 300))"),
  ]));
  assert.deepEqual(values, [WasiErrno.SUCCESS, WasiErrno.NOTCAPABLE, WasiErrno.NOTCAPABLE]);
});

Deno.test("proc_exit(0) after writing output completes the step", async () => {
  const outcome = await run(guest({
    imports: ["proc_exit"],
    body: `${text('{"ok":true}')} (call $flush) (call $proc_exit (i32.const 0)) unreachable`,
  }));
  assert.equal(outcome.status, "completed");
  assert.deepEqual(outcome.result, { ok: true });
});

Deno.test("proc_exit(3) fails the step with handler_error and the exit status", async () => {
  const outcome = await run(guest({
    imports: ["proc_exit"],
    body: `${text('{"ok":true}')} (call $flush) (call $proc_exit (i32.const 3)) unreachable`,
  }));
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.result, null);
  assert.equal(outcome.error?.code, "handler_error");
  assert.equal(outcome.error?.details?.exit_status, 3);
});

Deno.test("proc_exit reads its status as an unsigned 32-bit exit code", async () => {
  const outcome = await run(guest({
    imports: ["proc_exit"],
    body: "(call $proc_exit (i32.const -1))",
  }));
  assert.equal(outcome.error?.code, "handler_error");
  assert.equal(outcome.error?.details?.exit_status, 0xffffffff);
});

Deno.test("createWasiImports() builds only the named functions", () => {
  const ctx = {
    memory: new GuestMemory(),
    io: new StepIo(new Uint8Array(), 10),
    log: null,
    clock: createStepClock(),
    args: ["x"],
  };
  assert.deepEqual(Object.keys(createWasiImports(ctx, ["fd_write", "proc_exit"])), [
    "fd_write",
    "proc_exit",
  ]);
  assert.deepEqual(createWasiImports(ctx, []), {});
});

Deno.test("createWasiImports() rejects a name WASI preview1 does not have", () => {
  const ctx = {
    memory: new GuestMemory(),
    io: new StepIo(new Uint8Array(), 10),
    log: null,
    clock: createStepClock(),
    args: ["x"],
  };
  for (const name of ["fd_frobnicate", "toString", "__proto__"]) {
    assert.throws(() => createWasiImports(ctx, [name]), TypeError);
  }
});

Deno.test("createWasiImports() implements every function in WASI_FUNCTIONS", () => {
  assert.deepEqual([...WASI_IMPLEMENTED].sort(), Object.keys(WASI_FUNCTIONS).sort());
});
