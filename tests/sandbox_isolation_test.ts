/**
 * What a sandbox process contains: no permissions beyond its network grant,
 * no environment from the broker, no state carried between steps, memory
 * capped, and a process that dies (by itself or by breaking the protocol)
 * costs only its step.
 */
import assert from "node:assert/strict";
import { ioPlugin } from "../plugins/io/mod.ts";
import { logPlugin } from "../plugins/log/mod.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { SandboxPool, type SandboxPoolOptions } from "../src/sandbox/sandbox_pool.ts";
import { crashPlugin } from "./fixtures/plugins/crash_plugin.ts";
import { probePlugin } from "./fixtures/plugins/probe_plugin.ts";
import { relayPlugin } from "./fixtures/plugins/relay_plugin.ts";
import { sleepPlugin } from "./fixtures/plugins/sleep_plugin.ts";
import { echoGuest } from "./support/test_guests.ts";
import { wat } from "./support/wat.ts";

const DENIED = ["NotCapable", "PermissionDenied"];

const IO = `
  (import "io" "input_len" (func $len (result i32)))
  (import "io" "read_input" (func $read (param i32 i32) (result i32)))
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))`;

const ECHO = echoGuest();

/** Calls probe.run() and writes the staged report as its output. */
const PROBE = wat(`(module
  (import "probe" "run" (func $probe (result i32)))
  (import "probe" "read_result" (func $result (param i32 i32) (result i32)))
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32) (local $n i32)
    (local.set $n (call $probe))
    (drop (call $result (i32.const 0) (local.get $n)))
    (drop (call $write (i32.const 0) (local.get $n)))
    (i32.const 0)))`);

/** Writes "[<byte 100 of memory>,<global>]" as digits, then sets them to 5 and 7. */
const LEFTOVERS = wat(`(module
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (data (i32.const 0) "[0,0]")
  (func (export "run") (result i32)
    (i32.store8 (i32.const 1) (i32.add (i32.const 48) (i32.load8_u (i32.const 100))))
    (i32.store8 (i32.const 3) (i32.add (i32.const 48) (global.get $g)))
    (drop (call $write (i32.const 0) (i32.const 5)))
    (i32.store8 (i32.const 100) (i32.const 5))
    (global.set $g (i32.const 7))
    (i32.const 0)))`);

/** Grows memory a page at a time until refused; writes the page count reached. */
const GROW = wat(`(module
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32)
    (block $done (loop $grow
      (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
      (br $grow)))
    ;; two digits: memory.size is below 100 here
    (i32.store8 (i32.const 0) (i32.add (i32.const 48) (i32.div_u (memory.size) (i32.const 10))))
    (i32.store8 (i32.const 1) (i32.add (i32.const 48) (i32.rem_u (memory.size) (i32.const 10))))
    (drop (call $write (i32.const 0) (i32.const 2)))
    (i32.const 0)))`);

const EXIT = wat(`(module
  (import "crash" "exit" (func $exit (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32) (call $exit (i32.const 3))))`);

const UNCAUGHT = wat(`(module
  (import "crash" "uncaught" (func $uncaught (result i32)))
  (import "sleep" "ms" (func $sleep (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32)
    (drop (call $uncaught))
    (drop (call $sleep (i32.const 2000)))
    (i32.const 0)))`);

const GARBLE = wat(`(module
  (import "crash" "garble" (func $garble (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32) (drop (call $garble)) (i32.const 0)))`);

/** Asks the relay's broker half to shout the input; writes the answer or {"refused":true}. */
const RELAY = wat(`(module ${IO}
  (import "relay" "ask" (func $ask (param i32 i32) (result i32)))
  (import "relay" "read_result" (func $result (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 60000) "{\\"refused\\":true}")
  (func (export "run") (result i32) (local $n i32)
    (local.set $n (call $len))
    (drop (call $read (i32.const 0) (local.get $n)))
    (local.set $n (call $ask (i32.const 0) (local.get $n)))
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (drop (call $write (i32.const 60000) (i32.const 16))) (return (i32.const 0))))
    (drop (call $result (i32.const 1000) (local.get $n)))
    (drop (call $write (i32.const 1000) (local.get $n)))
    (i32.const 0)))`);

async function withPool(
  options: Partial<SandboxPoolOptions>,
  body: (runtime: Runtime, pool: SandboxPool) => Promise<void> | void,
): Promise<void> {
  let pool!: SandboxPool;
  const runtime = new Runtime({
    plugins: [ioPlugin(), logPlugin(), probePlugin(), crashPlugin(), sleepPlugin(), relayPlugin()],
    executor: (registry) => (pool = new SandboxPool({ registry, onLog: () => {}, ...options })),
  });
  try {
    await pool.ready();
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

function procStrings(pid: number, file: "cmdline" | "environ"): string[] {
  return Deno.readTextFileSync(`/proc/${pid}/${file}`).split("\0").filter(Boolean);
}

/** A loopback HTTP server that counts requests. */
function countingServer(): { port: number; hits: () => number; close: () => Promise<void> } {
  let hits = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    hits++;
    return new Response("ok");
  });
  return {
    port: server.addr.port,
    hits: () => hits,
    close: () => server.shutdown(),
  };
}

Deno.test("a sandbox process is denied files, env, subprocesses, ffi, sys and the network", async () => {
  const server = countingServer();
  try {
    await withPool({}, async (runtime, pool) => {
      const guest = await runtime.load(PROBE, {
        capabilities: { io: {}, probe: { fetch: [`http://127.0.0.1:${server.port}/`] } },
      });
      const outcome = await runtime.execute(guest, {});
      assert.equal(outcome.status, "completed", JSON.stringify(outcome.error));
      const report = outcome.result as Record<string, string>;
      assert.deepEqual(Object.keys(report).sort(), [
        "command",
        "env_all",
        "env_get",
        "fetch_0",
        "ffi",
        "pid_kill",
        "read_dir",
        "read_file",
        "sys",
        "write_file",
      ]);
      for (const [attempt, result] of Object.entries(report)) {
        assert.ok(DENIED.includes(result), `${attempt} was ${result}, expected a denial`);
      }
      assert.equal(server.hits(), 0);
      const [process] = pool.processes();
      const args = procStrings(process.pid, "cmdline");
      assert.ok(!args.some((a) => a.startsWith("--allow-") || a === "-A"), args.join(" "));
    });
  } finally {
    await server.close();
  }
});

Deno.test("a sandbox process reaches exactly the hosts its manifest's plugins grant", async () => {
  const allowed = countingServer();
  const other = countingServer();
  try {
    await withPool({}, async (runtime, pool) => {
      const guest = await runtime.load(PROBE, {
        capabilities: {
          io: {},
          probe: {
            allow_hosts: [`127.0.0.1:${allowed.port}`],
            fetch: [`http://127.0.0.1:${allowed.port}/`, `http://127.0.0.1:${other.port}/`],
          },
        },
      });
      const outcome = await runtime.execute(guest, {});
      const report = outcome.result as Record<string, string>;
      assert.equal(report.fetch_0, "allowed");
      assert.ok(DENIED.includes(report.fetch_1), `fetch_1 was ${report.fetch_1}`);
      assert.ok(DENIED.includes(report.read_file));
      assert.equal(allowed.hits(), 1);
      assert.equal(other.hits(), 0);
      // The grant lives in a process of its own profile, not in the warm default one.
      const net = pool.processes().find((p) => p.profile.startsWith("net=127.0.0.1:"));
      assert.ok(net, JSON.stringify(pool.processes()));
      const args = procStrings(net.pid, "cmdline");
      assert.deepEqual(args.filter((a) => a.startsWith("--allow-")), [
        `--allow-net=127.0.0.1:${allowed.port}`,
      ]);
      const defaults = pool.processes().filter((p) => p.profile === "net=;mem=1024");
      assert.equal(defaults.length, 1);
      assert.ok(!procStrings(defaults[0].pid, "cmdline").some((a) => a.startsWith("--allow-")));
    });
  } finally {
    await Promise.all([allowed.close(), other.close()]);
  }
});

Deno.test("a sandbox process inherits none of the broker's environment", async () => {
  Deno.env.set("WASM_BROKER_TEST_SECRET", "hunter2");
  try {
    await withPool({}, (_runtime, pool) => {
      const env = procStrings(pool.processes()[0].pid, "environ");
      assert.ok(!env.some((e) => e.includes("hunter2")), env.join(" "));
      const names = env.map((e) => e.slice(0, e.indexOf("="))).sort();
      for (const name of names) {
        assert.ok(
          ["DENO_DIR", "DENO_NO_UPDATE_CHECK", "HOME", "NO_COLOR", "XDG_CACHE_HOME"].includes(name),
          `unexpected variable ${name}`,
        );
      }
    });
  } finally {
    Deno.env.delete("WASM_BROKER_TEST_SECRET");
  }
});

Deno.test("a step never sees a previous step's memory bytes or globals", async () => {
  await withPool({ maxProcesses: 1 }, async (runtime, pool) => {
    const guest = await runtime.load(LEFTOVERS, { capabilities: { io: {} } });
    const [process] = pool.processes();
    for (let i = 0; i < 3; i++) {
      const outcome = await runtime.execute(guest, {});
      assert.deepEqual(outcome.result, [0, 0]);
    }
    // Same process all along: only the compiled module was reused.
    assert.deepEqual(pool.processes().map((p) => p.pid), [process.pid]);
  });
});

Deno.test("a guest growing memory past its limit gets -1 from memory.grow", async () => {
  await withPool({}, async (runtime, pool) => {
    const guest = await runtime.load(GROW, {
      capabilities: { io: {} },
      limits: { memory: "1MiB" },
    });
    const outcome = await runtime.execute(guest, {});
    assert.equal(outcome.status, "completed");
    assert.equal(outcome.result, 16);
    // The second layer: the whole process is capped at the profile's page count.
    const capped = pool.processes().find((p) => p.profile === "net=;mem=16");
    assert.ok(capped);
    assert.ok(procStrings(capped.pid, "cmdline").includes("--v8-flags=--wasm-max-mem-pages=16"));
  });
});

for (
  const [how, bytes, grants] of [
    ["calls Deno.exit", EXIT, { crash: {} }],
    ["throws an uncaught error", UNCAUGHT, { crash: {}, sleep: {} }],
    ["writes garbage to the frame stream", GARBLE, { crash: {} }],
  ] as const
) {
  Deno.test(`a sandbox process that ${how} is replaced and its step fails with sandbox_crashed`, async () => {
    await withPool({}, async (runtime, pool) => {
      const [before] = pool.processes();
      const guest = await runtime.load(bytes, { capabilities: grants });
      const outcome = await runtime.execute(guest, {});
      assert.equal(outcome.status, "failed");
      assert.equal(outcome.error?.code, "sandbox_crashed");
      assert.equal(outcome.error?.retryable, true);
      assert.equal(outcome.error?.details?.pid, before.pid);
      assert.equal(pidAlive(before.pid), false);
      const echo = await runtime.load(ECHO, { capabilities: { io: {} } });
      const after = await runtime.execute(echo, { still: "serving" });
      assert.deepEqual(after.result, { still: "serving" });
      assert.ok(pool.processes().length >= 1);
      assert.ok(pool.processes().every((p) => p.pid !== before.pid));
    });
  });
}

Deno.test("a plugin's sandbox half reaches its broker half through the pool", async () => {
  await withPool({}, async (runtime) => {
    const guest = await runtime.load(RELAY, {
      capabilities: { io: {}, relay: { prefix: "P:" } },
    });
    const text = (value: string) => new TextEncoder().encode(value);
    const answered = await runtime.execute(guest, text("hi"), { step: { stepId: "s-42" } });
    assert.deepEqual(answered.result, { text: "P:HI", step: "s-42" });
    assert.equal(answered.metrics.host_calls["relay.ask"], 1);
    const refused = await runtime.execute(guest, text("fail"));
    assert.equal(refused.status, "completed");
    assert.deepEqual(refused.result, { refused: true });
  });
});
