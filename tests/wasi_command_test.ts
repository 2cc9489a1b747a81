/**
 * Unmodified WASI commands built from C with clang and Debian's wasi-libc
 * (tests/fixtures/c) run through prepareGuest/runStep: what real toolchain
 * output sees of stdin, stdout, stderr, exit codes, files, clocks and sleep.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { ioPlugin } from "../plugins/io/mod.ts";
import { logPlugin } from "../plugins/log/mod.ts";
import type { CapabilityPlugin } from "../src/capability/capability_plugin.ts";
import { CapabilityRegistry } from "../src/capability/capability_registry.ts";
import { createStepClock, type VirtualClockOptions } from "../src/capability/step_clock.ts";
import { UnknownImportError } from "../src/errors.ts";
import { type Manifest, parseManifest } from "../src/manifest/manifest.ts";
import { prepareGuest } from "../src/runtime/prepared_guest.ts";
import { runStep } from "../src/runtime/run_step.ts";
import type { StepOutcome } from "../src/runtime/step_outcome.ts";
import { WasiErrno } from "../src/wasi/wasi_preview1.ts";

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
const step = { stepId: "s-c", handler: "c_guest", correlationId: "c-c" };
const FIXTURES = new URL("./fixtures/c/", import.meta.url);
const GUESTS = ["echo_upper", "exit_code", "fopen_denied", "clock_random"] as const;

/** wasi-libc's ENOTSUP: what its nanosleep() reports for any poll_oneoff failure. */
const WASI_LIBC_ENOTSUP = 58;

function fixture(name: typeof GUESTS[number]): Uint8Array {
  return Deno.readFileSync(new URL(`${name}.wasm`, FIXTURES));
}

interface RunOptions {
  manifest?: Manifest;
  clock?: VirtualClockOptions;
}

function run(
  name: typeof GUESTS[number],
  input: unknown,
  options: RunOptions = {},
): Promise<StepOutcome> {
  const manifest = options.manifest ?? granted;
  return runStep(
    prepareGuest(fixture(name), manifest, registry, { name }),
    { input: new TextEncoder().encode(JSON.stringify(input)), step, clock: options.clock },
    { registry },
  );
}

Deno.test("echo_upper (C) reads its input from stdin and writes JSON to stdout", async () => {
  const input = { text: 'hello "wörld"', other: 1 };
  const outcome = await run("echo_upper", input);
  assert.equal(outcome.error, null);
  assert.equal(outcome.status, "completed");
  const inputBytes = new TextEncoder().encode(JSON.stringify(input)).length;
  assert.deepEqual(outcome.result, { upper: 'HELLO "WöRLD"', input_bytes: inputBytes });
  assert.deepEqual(
    outcome.logs.map((r) => [r.level, r.message, r.fields]),
    [["info", `echo_upper: read ${inputBytes} bytes`, { stream: "stderr" }]],
  );
});

Deno.test("echo_upper (C) reads an input larger than libc's buffer in several fd_read calls", async () => {
  const text = "abc".repeat(20_000);
  const outcome = await run("echo_upper", { text });
  assert.equal(outcome.error, null);
  assert.equal((outcome.result as { upper: string }).upper, text.toUpperCase());
  assert.ok(outcome.metrics.host_calls["wasi.fd_read"] > 2);
});

Deno.test("echo_upper (C) exits 2 on input without a text field and the step fails", async () => {
  const outcome = await run("echo_upper", { nope: true });
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error?.code, "handler_error");
  assert.equal(outcome.error?.details?.exit_status, 2);
  assert.equal(outcome.logs.at(-1)?.message, 'echo_upper: input has no "text" string');
});

Deno.test("echo_upper (C) runs without a log grant and its stderr is discarded", async () => {
  const manifest = parseManifest({ capabilities: { io: {} } }, registry);
  const outcome = await run("echo_upper", { text: "quiet" }, { manifest });
  assert.equal(outcome.error, null);
  assert.equal((outcome.result as { upper: string }).upper, "QUIET");
  assert.deepEqual(outcome.logs, []);
});

Deno.test("echo_upper (C) stdout obeys limits.output_bytes", async () => {
  const manifest = parseManifest(
    { capabilities: { io: {}, log: {} }, limits: { output_bytes: 16 } },
    registry,
  );
  const outcome = await run("echo_upper", { text: "far too long for sixteen bytes" }, {
    manifest,
  });
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error?.code, "output_too_large");
});

Deno.test("exit_code (C) calling exit(3) fails the step with handler_error and exit_status 3", async () => {
  const outcome = await run("exit_code", {});
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.result, null);
  assert.equal(outcome.error?.code, "handler_error");
  assert.equal(outcome.error?.retryable, false);
  assert.deepEqual(outcome.error?.details, { exit_status: 3 });
  assert.deepEqual(outcome.logs.map((r) => r.message), ["exit_code: giving up with status 3"]);
  assert.equal(outcome.metrics.host_calls["wasi.proc_exit"], 1);
});

Deno.test("fopen_denied (C) cannot open a host file: fopen and openat get ENOTCAPABLE", async () => {
  const outcome = await run("fopen_denied", {});
  assert.equal(outcome.error, null);
  assert.deepEqual(outcome.result, {
    fopen_ok: false,
    // wasi-libc finds no preopened directory for "/etc/passwd" and refuses by itself.
    fopen_errno: WasiErrno.NOTCAPABLE,
    // openat() on stdin reaches the host's path_open.
    openat_stdio_errno: WasiErrno.NOTCAPABLE,
    openat_closed_errno: WasiErrno.BADF,
    bytes_read: 0,
  });
  // Only openat(0, ...) reaches path_open: openat(5, ...) stops at fd_fdstat_get's EBADF.
  assert.equal(outcome.metrics.host_calls["wasi.path_open"], 1);
  assert.deepEqual(outcome.logs.map((r) => r.message), [
    "fopen_denied: fopen failed: Capabilities insufficient",
  ]);
  assert.doesNotMatch(JSON.stringify(outcome), /root:/);
});

Deno.test("clock_random (C) sees the virtual clock and seeded randomness, the same every run", async () => {
  const clock = { startMs: 1_700_000_000_123, tickNs: 1000, seed: 42 };
  const first = await run("clock_random", {}, { clock });
  assert.equal(first.error, null);
  const random = new Uint8Array(8);
  createStepClock(clock).fillRandom(random);
  assert.deepEqual(first.result, {
    // First reading: start + one tick.
    wall_s: 1_700_000_000,
    wall_ns: 123_001_000,
    // Second reading: two ticks since the (virtual) start.
    mono_ns: 2_000,
    mono_res_ns: 1_000,
    entropy_rc: 0,
    random: [...random],
    // poll_oneoff is not capable: no sleeping.
    sleep_rc: -1,
    sleep_errno: WASI_LIBC_ENOTSUP,
  });
  const second = await run("clock_random", {}, { clock });
  assert.deepEqual(second.result, first.result);
  assert.deepEqual(second.logs.map((r) => r.time), first.logs.map((r) => r.time));
});

Deno.test("clock_random (C) reads the real clock when the step is not replayed", async () => {
  const before = Math.floor(Date.now() / 1000);
  const outcome = await run("clock_random", {});
  const after = Math.ceil(Date.now() / 1000);
  assert.equal(outcome.error, null);
  const { wall_s: wallS } = outcome.result as { wall_s: number };
  assert.ok(wallS >= before && wallS <= after, `${wallS} outside [${before}, ${after}]`);
});

Deno.test("clock_random (C) is refused before it runs when the manifest grants no time", () => {
  const manifest = parseManifest({ capabilities: { io: {}, log: {} } }, registry);
  assert.throws(
    () => prepareGuest(fixture("clock_random"), manifest, registry),
    (e) =>
      e instanceof UnknownImportError && e.module === "wasi_snapshot_preview1" &&
      e.reason === "undeclared_capability",
  );
});

const hasClang = await new Deno.Command("sh", { args: ["-c", "command -v clang"] }).output()
  .then((r) => r.success, () => false);

Deno.test({
  name: "the committed C fixtures are what build.sh makes from their sources",
  // The .wasm files are committed so tests need no C toolchain; this check needs one.
  ignore: !hasClang,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      for (const file of ["build.sh", ...GUESTS.map((g) => `${g}.c`)]) {
        await Deno.copyFile(new URL(file, FIXTURES), `${dir}/${file}`);
      }
      const build = await new Deno.Command("sh", { args: [`${dir}/build.sh`] }).output();
      assert.ok(build.success, new TextDecoder().decode(build.stderr));
      for (const guest of GUESTS) {
        assert.deepEqual(
          await Deno.readFile(`${dir}/${guest}.wasm`),
          fixture(guest),
          `${guest}.wasm is stale: run tests/fixtures/c/build.sh`,
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
