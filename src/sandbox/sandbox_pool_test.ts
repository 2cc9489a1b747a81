import assert from "node:assert/strict";
import { ioPlugin } from "../../plugins/io/mod.ts";
import { logPlugin } from "../../plugins/log/mod.ts";
import { crashPlugin } from "../../tests/fixtures/plugins/crash_plugin.ts";
import { sleepPlugin } from "../../tests/fixtures/plugins/sleep_plugin.ts";
import { echoGuest, sleepThenWriteOne } from "../../tests/support/test_guests.ts";
import { wat } from "../../tests/support/wat.ts";
import type { CapabilityPlugin } from "../capability/capability_plugin.ts";
import { CapabilityRegistry } from "../capability/capability_registry.ts";
import { Runtime } from "../runtime/runtime.ts";
import { SandboxPool, type SandboxPoolOptions } from "./sandbox_pool.ts";
import type { SandboxLogEvent } from "./sandbox_process.ts";

const IO = { capabilities: { io: {} } };

const ECHO = echoGuest();

const CONSTANT = wat(`(module
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "42")
  (func (export "run") (result i32) (drop (call $write (i32.const 0) (i32.const 2))) (i32.const 0)))`);

const SPIN = wat(`(module
  (memory (export "memory") 1)
  (func (export "run") (result i32) (loop $l (br $l)) (i32.const 0)))`);

async function withPool(
  options: Partial<SandboxPoolOptions> & { plugins?: CapabilityPlugin[] },
  body: (runtime: Runtime, pool: SandboxPool) => Promise<void>,
): Promise<void> {
  let pool!: SandboxPool;
  const { plugins = [ioPlugin(), logPlugin(), sleepPlugin(), crashPlugin()], ...rest } = options;
  const runtime = new Runtime({
    plugins,
    executor: (registry) => (pool = new SandboxPool({ registry, onLog: () => {}, ...rest })),
  });
  try {
    await body(runtime, pool);
  } finally {
    await runtime.close();
  }
}

function pidAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const until = performance.now() + 15_000;
  while (!condition()) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("SandboxPool.close() kills every process and fails running and queued steps, saying which started", async () => {
  let pids: number[] = [];
  await withPool({ maxProcesses: 1 }, async (runtime, pool) => {
    await pool.ready();
    const spinner = await runtime.load(SPIN, IO);
    const echo = await runtime.load(ECHO, IO);
    const running = runtime.execute(spinner, {}, { timeoutMs: 60_000 });
    const queued = runtime.execute(echo, {}, { timeoutMs: 60_000 });
    await waitFor(() => pool.processes()[0]?.steps === 1, "the spinner to run");
    pids = pool.processes().map((p) => p.pid);
    await pool.close();
    const outcomes = await Promise.all([running, queued]);
    for (const outcome of outcomes) {
      assert.equal(outcome.error?.code, "sandbox_crashed");
      assert.equal(outcome.error?.details?.reason, "closed");
    }
    // Whether a process ever took the step: the broker hands back the ones that never started.
    assert.deepEqual(outcomes.map((o) => o.error?.details?.started), [true, false]);
    assert.deepEqual(pool.processes(), []);
    const late = await runtime.execute(echo, {});
    assert.equal(late.error?.code, "sandbox_crashed");
    assert.equal(late.error?.details?.started, false);
    await assert.rejects(() => pool.ready(), { code: "sandbox_crashed" });
  });
  assert.equal(pids.length, 1);
  for (const pid of pids) assert.equal(pidAlive(pid), false, `sandbox ${pid} outlived close()`);
});

Deno.test("SandboxPool carries the broker's ask to time host calls to the sandbox and the log back", async () => {
  await withPool({ maxProcesses: 1 }, async (runtime) => {
    const echo = await runtime.load(ECHO, IO);
    const plain = await runtime.execute(echo, { a: 1 });
    assert.equal(plain.status, "completed");
    assert.equal("host_call_log" in plain, false);
    const timed = await runtime.execute(echo, { a: 1 }, { timeHostCalls: true });
    assert.equal(timed.status, "completed");
    const calls = timed.host_call_log!.map((c) => c.call);
    assert.ok(calls.includes("io.write_output"), JSON.stringify(timed.host_call_log));
    assert.equal(calls.length, Object.values(timed.metrics.host_calls).reduce((a, b) => a + b, 0));
  });
});

Deno.test("SandboxPool fails a step with internal when a granted plugin has no source", async () => {
  const { source: _none, ...sourceless } = sleepPlugin();
  await withPool({ plugins: [ioPlugin(), sourceless], prewarm: 0 }, async (runtime, pool) => {
    const guest = await runtime.load(ECHO, { capabilities: { io: {}, sleep: {} } });
    const outcome = await runtime.execute(guest, {});
    assert.equal(outcome.error?.code, "internal");
    assert.equal(outcome.error?.details?.capability, "sleep");
    assert.deepEqual(pool.processes(), [], "nothing was started for it");
  });
});

Deno.test("SandboxPool.ready() rejects when a plugin cannot be re-created, without respawning", async () => {
  const broken: CapabilityPlugin = {
    ...sleepPlugin(),
    source: { module: sleepPlugin().source!.module, factory: "noSuchFactory" },
  };
  const logs: SandboxLogEvent[] = [];
  // The pool's own later attempt (startRetryMs) is out of this test's time.
  await withPool(
    { plugins: [ioPlugin(), broken], onLog: (e) => logs.push(e), startRetryMs: 600_000 },
    async (runtime, pool) => {
      await assert.rejects(() => pool.ready(), (error: Error & { code?: string }) => {
        assert.equal(error.code, "sandbox_crashed");
        assert.match(error.message, /noSuchFactory/);
        return true;
      });
      assert.deepEqual(pool.processes(), []);
      const health = pool.health();
      assert.equal(health.ok, false);
      assert.match(!health.ok ? health.message : "", /^the last sandbox process failed to start: /);
      assert.match(!health.ok ? health.message : "", /noSuchFactory/);
      const guest = await runtime.load(ECHO, IO);
      const outcome = await runtime.execute(guest, {});
      assert.equal(outcome.error?.code, "sandbox_crashed");
      assert.equal(outcome.error?.details?.reason, "fatal");
      assert.deepEqual(pool.processes(), []);
      assert.ok(logs.some((e) => e.level === "error" && /failed to start/.test(e.message)));
    },
  );
});

/**
 * A script in setpriv's place that starts the sandbox (through setpriv when there is one)
 * unless the file `broken` exists in a temp dir; `failedStarts` counts the pool's logs of
 * processes that failed to start, `failedAt` says when (`performance.now()`).
 */
async function withBreakableStarts(
  body: (
    setup: { setpriv: string; broken: string; onLog: (e: SandboxLogEvent) => void },
    failedStarts: () => number,
    failedAt: () => number[],
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const broken = `${dir}/broken`;
  const setpriv = `${dir}/setpriv.sh`;
  await Deno.writeTextFile(
    setpriv,
    `#!/bin/sh
if [ -e '${broken}' ]; then echo 'broken on purpose' >&2; exit 3; fi
if [ -x /usr/bin/setpriv ]; then exec /usr/bin/setpriv "$@"; fi
shift 4 # --pdeathsig KILL --no-new-privs --
exec "$@"
`,
    { mode: 0o755 },
  );
  const failures: number[] = [];
  const onLog = (e: SandboxLogEvent) => {
    if (/failed to start/.test(e.message)) failures.push(performance.now());
  };
  try {
    await body({ setpriv, broken, onLog }, () => failures.length, () => [...failures]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("SandboxPool.health(): unhealthy while its warm process cannot start, tried again by itself until one starts", async () => {
  let closed: SandboxPool | undefined;
  await withBreakableStarts(async ({ broken, ...options }, failedStarts, failedAt) => {
    await withPool({ ...options, prewarm: 1, startRetryMs: 50 }, async (_runtime, pool) => {
      closed = pool;
      assert.deepEqual(pool.health(), { ok: false, message: "starting" });
      await pool.ready();
      assert.deepEqual(pool.health(), { ok: true });
      await Deno.writeTextFile(broken, "");
      // Its replacement (after the back-off: it died before a step) cannot start.
      Deno.kill(pool.processes()[0].pid, "SIGKILL");
      await waitFor(() => failedStarts() >= 1, "the failed start");
      const health = pool.health();
      assert.match(!health.ok ? health.message : "", /failed to start: .*broken on purpose/s);
      // No step and no ready() asks: the pool tries again by itself, backing off: 50, 100
      // and 200 ms at least between the four failures (timers never fire early).
      await waitFor(() => failedStarts() >= 4, "three more attempts");
      const at = failedAt();
      assert.ok(at[3] - at[0] >= 350, `attempts at ${at.map((t) => t - at[0])} ms`);
      assert.equal(pool.health().ok, false);
      await Deno.remove(broken);
      await waitFor(() => pool.health().ok, "a warm process again");
      assert.deepEqual(pool.processes().map((p) => p.state), ["ready"]);
    });
  });
  assert.deepEqual(closed?.health(), { ok: false, message: "closed" });
});

Deno.test("SandboxPool.health(): a process beyond the warm ones that cannot start is not started again in a loop, and the pool stays healthy", async () => {
  await withBreakableStarts(async ({ broken, ...options }, failedStarts) => {
    await withPool(
      { ...options, prewarm: 1, maxProcesses: 2, startRetryMs: 60_000 },
      async (runtime, pool) => {
        await pool.ready();
        const sleeper = await runtime.load(
          sleepThenWriteOne(500),
          { capabilities: { io: {}, sleep: {} } },
        );
        await Deno.writeTextFile(broken, "");
        // The second step asks for a second process, which fails to start; it waits for the
        // warm one, busy for 500 ms, instead of starting one process after another meanwhile.
        const outcomes = await Promise.all([
          runtime.execute(sleeper, {}),
          runtime.execute(sleeper, {}),
        ]);
        assert.deepEqual(outcomes.map((o) => o.result), [1, 1]);
        assert.equal(failedStarts(), 1);
        // Still broken, but the pool has its warm process: healthy.
        assert.deepEqual(pool.health(), { ok: true });
      },
    );
  });
});

Deno.test("SandboxPool: a process that dies before its first step backs off like a failed start; one that ran steps is replaced at once", async () => {
  await withPool({ prewarm: 1, startRetryMs: 60_000 }, async (runtime, pool) => {
    await pool.ready();
    Deno.kill(pool.processes()[0].pid, "SIGKILL");
    await waitFor(() => !pool.health().ok, "the death");
    const health = pool.health();
    assert.match(!health.ok ? health.message : "", /crashed before its first step/);
    // Not replaced at once (a plugin that dies once loaded would be started again and again).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.deepEqual(pool.processes(), []);
    await pool.ready(); // an explicit ready() tries at once
    assert.deepEqual(pool.health(), { ok: true });
    const echo = await runtime.load(ECHO, IO);
    assert.deepEqual((await runtime.execute(echo, { n: 1 })).result, { n: 1 });
    const [ran] = pool.processes();
    Deno.kill(ran.pid, "SIGKILL");
    await waitFor(() => pool.processes().some((p) => p.pid !== ran.pid), "its replacement");
  });
});

Deno.test("SandboxPool.ready() reports a plugin module that cannot be loaded", async () => {
  const missing: CapabilityPlugin = {
    ...sleepPlugin(),
    source: { module: new URL("./no_such_plugin.ts", import.meta.url).href, factory: "x" },
  };
  await withPool({ plugins: [ioPlugin(), missing] }, async (_runtime, pool) => {
    await assert.rejects(() => pool.ready(), (error: Error & { code?: string }) => {
      assert.equal(error.code, "sandbox_crashed");
      assert.match(error.message, /no_such_plugin\.ts/);
      return true;
    });
  });
});

Deno.test("SandboxPool compiles a module once per process and reports compile_ms once", async () => {
  await withPool({ maxProcesses: 1 }, async (runtime, pool) => {
    const guest = await runtime.load(ECHO, IO);
    const first = await runtime.execute(guest, { n: 1 });
    const second = await runtime.execute(guest, { n: 2 });
    assert.deepEqual([first.result, second.result], [{ n: 1 }, { n: 2 }]);
    assert.ok(first.metrics.compile_ms > 0);
    assert.equal(second.metrics.compile_ms, 0);
    assert.equal(pool.processes()[0].modules, 1);
  });
});

Deno.test("SandboxPool keeps at most modulesPerProcess compiled modules per process", async () => {
  await withPool({ maxProcesses: 1, modulesPerProcess: 1 }, async (runtime, pool) => {
    const echo = await runtime.load(ECHO, IO);
    const constant = await runtime.load(CONSTANT, IO);
    for (let i = 0; i < 3; i++) {
      assert.deepEqual((await runtime.execute(echo, { i })).result, { i });
      const outcome = await runtime.execute(constant, {});
      assert.equal(outcome.result, 42);
      assert.ok(outcome.metrics.compile_ms > 0, "recompiled after being unloaded");
    }
    assert.equal(pool.processes()[0].modules, 1);
  });
});

Deno.test("SandboxPool compiles the same bytes separately under different manifests", async () => {
  await withPool({ maxProcesses: 1 }, async (runtime, pool) => {
    const roomy = await runtime.load(ECHO, IO);
    const tight = await runtime.load(ECHO, { ...IO, limits: { output_bytes: 4 } });
    assert.equal(roomy.digest, tight.digest);
    assert.equal((await runtime.execute(roomy, { a: 1 })).status, "completed");
    assert.equal((await runtime.execute(tight, { a: 1 })).error?.code, "output_too_large");
    assert.equal(pool.processes()[0].modules, 2);
  });
});

Deno.test("SandboxPool fails a module V8 rejects with module_invalid and keeps the process", async () => {
  const bytes = wat(`(module (memory (export "memory") 1)
    (func (export "run") (result i32) (i32.const 7)))`);
  // i32.const 7 → i64.const 7: well-formed sections, but the body no longer type-checks.
  const at = bytes.findIndex((b, i) => b === 0x41 && bytes[i + 1] === 7 && bytes[i + 2] === 0x0b);
  bytes[at] = 0x42;
  await withPool({ maxProcesses: 1 }, async (runtime, pool) => {
    await pool.ready();
    const [before] = pool.processes();
    const guest = await runtime.load(bytes, IO);
    for (let i = 0; i < 2; i++) {
      const outcome = await runtime.execute(guest, {});
      assert.equal(outcome.error?.code, "module_invalid");
    }
    assert.deepEqual(pool.processes().map((p) => p.pid), [before.pid]);
  });
});

Deno.test("SandboxPool reaps idle processes but keeps the warm default ones", async () => {
  await withPool({ idleMs: 150, prewarm: 1 }, async (runtime, pool) => {
    await pool.ready();
    const guest = await runtime.load(ECHO, { ...IO, limits: { memory: "1MiB" } });
    assert.equal((await runtime.execute(guest, {})).status, "completed");
    assert.deepEqual(pool.processes().map((p) => p.profile).sort(), [
      "net=;mem=1024",
      "net=;mem=16",
    ]);
    await waitFor(() => pool.processes().length === 1, "the idle process to be reaped");
    assert.equal(pool.processes()[0].profile, "net=;mem=1024");
  });
});

Deno.test("SandboxPool evicts an idle process of another profile at maxProcesses", async () => {
  await withPool({ maxProcesses: 1, prewarm: 1 }, async (runtime, pool) => {
    await pool.ready();
    const [warm] = pool.processes();
    const guest = await runtime.load(ECHO, { ...IO, limits: { memory: "1MiB" } });
    assert.deepEqual((await runtime.execute(guest, { x: 1 })).result, { x: 1 });
    assert.deepEqual(pool.processes().map((p) => p.profile), ["net=;mem=16"]);
    assert.equal(pidAlive(warm.pid), false);
  });
});

Deno.test("SandboxPool runs steps of one profile in parallel across processes", async () => {
  await withPool({ maxProcesses: 2, prewarm: 2 }, async (runtime, pool) => {
    await pool.ready();
    const sleeper = await runtime.load(
      sleepThenWriteOne(300),
      { capabilities: { io: {}, sleep: {} } },
    );
    const steps = [runtime.execute(sleeper, {}), runtime.execute(sleeper, {})];
    await waitFor(() => pool.processes().every((p) => p.steps === 1), "one step per process");
    for (const outcome of await Promise.all(steps)) assert.equal(outcome.result, 1);
  });
});

Deno.test("SandboxPool logs a crashed process's stderr through onLog", async () => {
  const logs: SandboxLogEvent[] = [];
  await withPool({ onLog: (e) => logs.push(e) }, async (runtime) => {
    const guest = await runtime.load(
      wat(`(module
        (import "crash" "uncaught" (func $uncaught (result i32)))
        (import "sleep" "ms" (func $sleep (param i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "run") (result i32)
          (drop (call $uncaught)) (drop (call $sleep (i32.const 2000))) (i32.const 0)))`),
      { capabilities: { crash: {}, sleep: {} } },
    );
    const outcome = await runtime.execute(guest, {});
    assert.equal(outcome.error?.code, "sandbox_crashed");
    assert.ok(
      logs.some((e) => e.level === "error" && /crash plugin: uncaught error/.test(e.message)),
    );
  });
});

Deno.test("SandboxPool refuses bad options and a bad timeoutMs with RangeError", async () => {
  const registry = new CapabilityRegistry([ioPlugin()]);
  for (
    const options of [{ maxProcesses: 0 }, { stepsPerProcess: -1 }, { idleMs: NaN }, {
      prewarm: -1,
    }]
  ) {
    assert.throws(() => new SandboxPool({ registry, ...options }), RangeError);
  }
  await withPool({ prewarm: 0 }, async (runtime, pool) => {
    const guest = await runtime.load(ECHO, IO);
    for (const timeoutMs of [0, -5, NaN]) {
      await assert.rejects(
        () =>
          pool.execute({
            guest,
            input: new Uint8Array(),
            step: { stepId: "s", handler: "h", correlationId: "c" },
            data: {},
            timeoutMs,
          }, () => Promise.resolve()),
        RangeError,
      );
    }
  });
});

Deno.test("SandboxPool fails steps with sandbox_crashed when a process cannot be spawned", async () => {
  const logs: SandboxLogEvent[] = [];
  await withPool(
    { setpriv: "/nonexistent/setpriv", onLog: (e) => logs.push(e) },
    async (runtime, pool) => {
      await assert.rejects(() => pool.ready(), (error: Error & { code?: string }) => {
        assert.equal(error.code, "sandbox_crashed");
        assert.match(error.message, /NotFound/);
        return true;
      });
      const guest = await runtime.load(ECHO, IO);
      const outcome = await runtime.execute(guest, {});
      assert.equal(outcome.error?.code, "sandbox_crashed");
      assert.equal(outcome.error?.details?.reason, "spawn_failed");
      assert.deepEqual(pool.processes(), []);
      assert.ok(logs.some((e) => /cannot spawn/.test(e.message)));
    },
  );
});

Deno.test("SandboxPool carries a 6 MiB input and output through the pipes intact", async () => {
  // Grows memory to fit the input, then echoes it.
  const bigEcho = wat(`(module
    (import "io" "input_len" (func $len (result i32)))
    (import "io" "read_input" (func $read (param i32 i32) (result i32)))
    (import "io" "write_output" (func $write (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "run") (result i32) (local $n i32)
      (local.set $n (call $len))
      (drop (memory.grow (i32.add (i32.div_u (local.get $n) (i32.const 65536)) (i32.const 1))))
      (drop (call $read (i32.const 0) (local.get $n)))
      (drop (call $write (i32.const 0) (local.get $n)))
      (i32.const 0)))`);
  await withPool({ maxProcesses: 1 }, async (runtime) => {
    const guest = await runtime.load(bigEcho, IO);
    const text = Array.from({ length: 6 * 1024 * 64 }, (_, i) => (i % 977).toString(36)).join("")
      .slice(0, 6 * 1024 * 1024);
    const outcome = await runtime.execute(guest, { text });
    assert.equal(outcome.status, "completed", JSON.stringify(outcome.error));
    assert.equal((outcome.result as { text: string }).text, text);
  });
});

Deno.test({
  name: "a sandbox process dies with its broker, even when the broker is SIGKILLed mid-step",
  ignore: !exists("/usr/bin/setpriv"), // needs util-linux setpriv for --pdeathsig
  fn: async () => {
    const url = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
    // A broker that runs a spinning guest and prints its sandbox's pid.
    const broker = `
      import { ioPlugin } from ${url("../../plugins/io/mod.ts")};
      import { Runtime } from ${url("../runtime/runtime.ts")};
      import { SandboxPool } from ${url("./sandbox_pool.ts")};
      import { wat } from ${url("../../tests/support/wat.ts")};
      let pool;
      const runtime = new Runtime({ plugins: [ioPlugin()],
        executor: (registry) => (pool = new SandboxPool({ registry, maxProcesses: 1 })) });
      await pool.ready();
      const guest = await runtime.load(wat(${
      JSON.stringify(`(module (memory (export "memory") 1)
        (func (export "run") (result i32) (loop $l (br $l)) (i32.const 0)))`)
    }), { capabilities: { io: {} } });
      runtime.execute(guest, {}, { timeoutMs: 600000 });
      setTimeout(() => console.log(pool.processes()[0].pid), 300);`;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `--config=${new URL("../../deno.json", import.meta.url).pathname}`,
        `data:application/javascript,${encodeURIComponent(broker)}`,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let printed = "";
    while (!printed.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      printed += value;
    }
    const pid = Number(printed.trim());
    assert.ok(pid > 0, `broker printed ${printed}`);
    await waitFor(() => cpuBusy(pid), "the sandbox to spin");
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();
    await waitFor(() => !pidAlive(pid), "the orphaned sandbox to die");
  },
});

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** True once the process has used some CPU (it is running the guest). */
function cpuBusy(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]) > 10;
  } catch {
    return false;
  }
}
