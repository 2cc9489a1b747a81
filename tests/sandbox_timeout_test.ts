/**
 * Deadlines in sandbox processes: a guest that spins forever — in `run`, in
 * `_start`, in a start function, after an async host call — is stopped at
 * its deadline by killing its process, the step fails with `timeout`, no
 * process is left burning CPU and the pool keeps serving.
 */
import assert from "node:assert/strict";
import { ioPlugin } from "../plugins/io/mod.ts";
import { logPlugin } from "../plugins/log/mod.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import type { StepOutcome } from "../src/runtime/step_outcome.ts";
import { SandboxPool, type SandboxPoolOptions } from "../src/sandbox/sandbox_pool.ts";
import { crashPlugin } from "./fixtures/plugins/crash_plugin.ts";
import { sleepPlugin } from "./fixtures/plugins/sleep_plugin.ts";
import { echoGuest, sleepThenWriteOne } from "./support/test_guests.ts";
import { wat } from "./support/wat.ts";

const GRANTS = { capabilities: { io: {}, log: {}, sleep: {} } };
const DEADLINE_MS = 400;
/** Generous: the machine is shared and noisy; this only proves the guest was stopped. */
const SLACK_MS = 5000;

const ECHO = echoGuest();

const SPIN_IN_RUN = wat(`(module
  (memory (export "memory") 1)
  (func (export "run") (result i32) (loop $l (br $l)) (i32.const 0)))`);

const SPIN_IN_START_EXPORT = wat(`(module
  (memory (export "memory") 1)
  (func (export "_start") (loop $l (br $l))))`);

const SPIN_IN_START_FUNCTION = wat(`(module
  (memory (export "memory") 1)
  (func $spin (loop $l (br $l)))
  (start $spin)
  (func (export "run") (result i32) (i32.const 0)))`);

const SPIN_AFTER_ASYNC_CALL = wat(`(module
  (import "sleep" "ms" (func $sleep (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32)
    (drop (call $sleep (i32.const 20)))
    (loop $l (br $l))
    (i32.const 0)))`);

/** Sleeps `ms` in an async host call, then echoes its input. */
const sleepThenEcho = (ms: number) =>
  wat(`(module
  (import "sleep" "ms" (func $sleep (param i32) (result i32)))
  (import "io" "input_len" (func $len (result i32)))
  (import "io" "read_input" (func $read (param i32 i32) (result i32)))
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32) (local $n i32)
    (drop (call $sleep (i32.const ${ms})))
    (local.set $n (call $len))
    (drop (call $read (i32.const 0) (local.get $n)))
    (drop (call $write (i32.const 0) (local.get $n)))
    (i32.const 0)))`);

/**
 * Exits its process (code 3) after sleeping 500 ms: long enough for a test to
 * see it share its process with another step on a loaded machine.
 */
const EXIT_AFTER_SLEEP = wat(`(module
  (import "sleep" "ms" (func $sleep (param i32) (result i32)))
  (import "crash" "exit" (func $exit (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32)
    (drop (call $sleep (i32.const 500)))
    (call $exit (i32.const 3))))`);

async function withPool(
  options: Partial<SandboxPoolOptions>,
  body: (runtime: Runtime, pool: SandboxPool) => Promise<void>,
): Promise<void> {
  let pool!: SandboxPool;
  const runtime = new Runtime({
    plugins: [ioPlugin(), logPlugin(), sleepPlugin(), crashPlugin()],
    executor: (registry) => (pool = new SandboxPool({ registry, onLog: () => {}, ...options })),
  });
  try {
    await pool.ready();
    await body(runtime, pool);
  } finally {
    await runtime.close();
  }
}

/** Polls until `condition` holds (steps reach the executor a few microtasks after execute()). */
async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const until = performance.now() + 10_000;
  while (!condition()) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

function pidAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie has stopped running
  } catch {
    return false;
  }
}

/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

async function assertNoSandboxBurnsCpu(pool: SandboxPool): Promise<void> {
  // A replacement that is still starting up uses CPU legitimately: measure once all are ready.
  await waitFor(() => pool.processes().every((p) => p.state === "ready"), "sandboxes to be ready");
  const pids = pool.processes().map((p) => p.pid);
  const before = pids.map(cpuTicks);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const after = pids.map(cpuTicks);
  // 100 ticks per second: a spinning process would gain ~50 in 500 ms.
  pids.forEach((pid, i) => assert.ok(after[i] - before[i] < 10, `sandbox ${pid} burns CPU`));
}

function assertTimedOut(outcome: StepOutcome, started: number): void {
  const elapsed = performance.now() - started;
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error?.code, "timeout");
  assert.equal(outcome.error?.retryable, true);
  assert.equal(outcome.error?.details?.killed, true);
  assert.equal(outcome.error?.details?.timeout_ms, DEADLINE_MS);
  assert.ok(outcome.metrics.run_ms > 0);
  assert.ok(elapsed >= DEADLINE_MS - 5, `stopped before its deadline (${elapsed} ms)`);
  assert.ok(elapsed < DEADLINE_MS + SLACK_MS, `stopped long after its deadline (${elapsed} ms)`);
  const pid = outcome.error?.details?.pid as number;
  assert.equal(typeof pid, "number");
  assert.equal(pidAlive(pid), false, `killed sandbox ${pid} still runs`);
}

async function assertStillServes(runtime: Runtime): Promise<void> {
  const guest = await runtime.load(ECHO, GRANTS);
  const outcome = await runtime.execute(guest, { after: "kill" });
  assert.equal(outcome.status, "completed");
  assert.deepEqual(outcome.result, { after: "kill" });
}

for (
  const [where, bytes] of [
    ["in run()", SPIN_IN_RUN],
    ["in _start", SPIN_IN_START_EXPORT],
    ["in a start function (during instantiation)", SPIN_IN_START_FUNCTION],
    ["after an async host call (JSPI)", SPIN_AFTER_ASYNC_CALL],
  ] as const
) {
  Deno.test(`SandboxPool stops a guest spinning ${where} at its deadline with timeout`, async () => {
    await withPool({}, async (runtime, pool) => {
      const guest = await runtime.load(bytes, GRANTS);
      const started = performance.now();
      const outcome = await runtime.execute(guest, {}, { timeoutMs: DEADLINE_MS });
      assertTimedOut(outcome, started);
      assert.ok(!pool.processes().some((p) => p.pid === outcome.error?.details?.pid));
      await assertNoSandboxBurnsCpu(pool);
      await assertStillServes(runtime);
    });
  });
}

Deno.test("SandboxPool re-runs an innocent step that shared a process with a spinning one", async () => {
  await withPool({ stepsPerProcess: 2, maxProcesses: 2, prewarm: 1 }, async (runtime, pool) => {
    const spinner = await runtime.load(SPIN_IN_RUN, GRANTS);
    const echo = await runtime.load(ECHO, GRANTS);
    const [warm] = pool.processes();
    const started = performance.now();
    const spinning = runtime.execute(spinner, {}, { timeoutMs: DEADLINE_MS });
    // Dispatched second to the same (only ready) process, it waits behind the spinner.
    const innocent = runtime.execute(echo, { innocent: true }, { timeoutMs: 20_000 });
    await waitFor(() => pool.processes().find((p) => p.pid === warm.pid)?.steps === 2, "2 steps");
    const [spun, served] = await Promise.all([spinning, innocent]);
    assertTimedOut(spun, started);
    assert.equal(spun.error?.details?.pid, warm.pid);
    assert.equal(served.status, "completed");
    assert.deepEqual(served.result, { innocent: true });
    // It could only finish after the kill: its first process was blocked by the spinner.
    assert.ok(performance.now() - started >= DEADLINE_MS);
    await assertNoSandboxBurnsCpu(pool);
  });
});

Deno.test("SandboxPool re-runs a step only once: lost again, it fails with sandbox_crashed", async () => {
  await withPool({ stepsPerProcess: 2, maxProcesses: 2, prewarm: 1 }, async (runtime) => {
    const spinner = await runtime.load(SPIN_IN_RUN, GRANTS);
    const crasher = await runtime.load(EXIT_AFTER_SLEEP, {
      capabilities: { sleep: {}, crash: {} },
    });
    const spinning = runtime.execute(spinner, {}, { timeoutMs: DEADLINE_MS });
    // Blocked behind the spinner, re-run alone after the kill, where it crashes its process.
    const crashing = runtime.execute(crasher, {}, { timeoutMs: 20_000 });
    const [spun, crashed] = await Promise.all([spinning, crashing]);
    assert.equal(spun.error?.code, "timeout");
    assert.equal(crashed.error?.code, "sandbox_crashed");
    assert.equal(crashed.error?.retryable, true);
    assert.equal(crashed.error?.details?.exit_code, 3);
    await assertStillServes(runtime);
  });
});

Deno.test("SandboxPool re-runs the other steps of a process that crashed", async () => {
  await withPool({ stepsPerProcess: 2, maxProcesses: 2, prewarm: 1 }, async (runtime, pool) => {
    const crasher = await runtime.load(EXIT_AFTER_SLEEP, {
      capabilities: { sleep: {}, crash: {} },
    });
    const sleeper = await runtime.load(sleepThenEcho(1500), GRANTS);
    const [warm] = pool.processes();
    // Both suspend in an async host call in the same process; the crasher wakes first.
    const crashing = runtime.execute(crasher, {}, { timeoutMs: 20_000 });
    const sleeping = runtime.execute(sleeper, { survived: true }, { timeoutMs: 20_000 });
    await waitFor(() => pool.processes().find((p) => p.pid === warm.pid)?.steps === 2, "2 steps");
    const [crashed, slept] = await Promise.all([crashing, sleeping]);
    assert.equal(crashed.error?.code, "sandbox_crashed");
    assert.notEqual(crashed.error?.details?.pid, warm.pid, "the crasher was re-run elsewhere");
    assert.equal(slept.status, "completed");
    assert.deepEqual(slept.result, { survived: true });
    assert.equal(pidAlive(warm.pid), false);
  });
});

Deno.test("a step's deadline counts from when it reaches a process, not while it waits in the queue", async () => {
  await withPool({ maxProcesses: 1, prewarm: 1 }, async (runtime) => {
    const blocker = await runtime.load(sleepThenWriteOne(2000), GRANTS);
    const sleeper = await runtime.load(sleepThenEcho(100), GRANTS);
    // With one process the sleeper waits ~2 s behind the blocker, longer than its 1 s
    // deadline — which must not count that wait — and then runs in ~100 ms.
    const outcomes = await Promise.all([
      runtime.execute(blocker, {}, { timeoutMs: 10_000 }),
      runtime.execute(sleeper, { n: 1 }, { timeoutMs: 1000 }),
    ]);
    for (const outcome of outcomes) {
      assert.equal(outcome.status, "completed", JSON.stringify(outcome));
    }
    assert.deepEqual(outcomes[1].result, { n: 1 });
  });
});

Deno.test("a step that waits for a process longer than maxQueueWaitMs fails as queued, nothing killed", async () => {
  await withPool({ maxProcesses: 1, prewarm: 1, maxQueueWaitMs: 200 }, async (runtime, pool) => {
    const spin = await runtime.load(SPIN_IN_RUN, GRANTS);
    const echo = await runtime.load(ECHO, GRANTS);
    const spinning = runtime.execute(spin, {}, { timeoutMs: 1500 });
    await waitFor(() => pool.processes().some((p) => p.steps > 0), "the spinning step to run");
    const queued = await runtime.execute(echo, {}, { timeoutMs: 5000 });
    assert.equal(queued.error?.code, "timeout");
    assert.equal(queued.error?.retryable, true);
    assert.equal(queued.error?.details?.queued, true);
    assert.equal(queued.error?.details?.killed, undefined);
    // The queued step killed nothing: the spinner still runs until its own deadline.
    assert.equal(pool.processes()[0].steps, 1);
    assert.equal((await spinning).error?.code, "timeout");
  });
});
