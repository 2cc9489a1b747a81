/**
 * `deno task broker` as a process: configuration errors, the admin HTTP API
 * (health, readiness, metrics, handlers), a step through the whole path, and
 * a graceful stop on SIGTERM, and on SIGINT on the embedded database.
 */
import assert from "node:assert/strict";
import { toastCompressionSettings } from "../src/db/toast_compression.ts";
import { TASKER_OBJECTS } from "../src/tasker/tasker_schema.ts";
import { join } from "node:path";
import { OrchestrationSimulator } from "../tasker_double/orchestration_simulator.ts";
import { canStartPostgres, startTestDatabase } from "./support/database_harness.ts";
import { copyRegistry, eventually, spawnBroker, waitUntilReady } from "./support/broker_harness.ts";

const REPO = new URL("../", import.meta.url).pathname;

async function runBroker(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO, "src/cli/broker.ts"), ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

Deno.test("broker --help explains the options and exits 0", async () => {
  const { code, stdout } = await runBroker(["--help"]);
  assert.equal(code, 0);
  for (const word of ["DATABASE_URL", "--namespace", "--concurrency", "/health/ready"]) {
    assert.ok(stdout.includes(word), `help mentions ${word}`);
  }
});

Deno.test("broker refuses bad configuration with exit 2, naming each field", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = join(dir, "broker.json");
    await Deno.writeTextFile(
      config,
      JSON.stringify({ concurrency: 0, namespaces: ["bad-name"], surprise: true }),
    );
    const { code, stderr } = await runBroker(["--config", config], {
      WASM_BROKER_DATA_DIR: dir,
    });
    assert.equal(code, 2);
    assert.match(stderr, /concurrency/);
    assert.match(stderr, /namespaces\[0\]/);
    assert.match(stderr, /surprise/);

    const unknownFlag = await runBroker(["--no-such-flag"]);
    assert.equal(unknownFlag.code, 2);

    await Deno.writeTextFile(
      config,
      JSON.stringify({
        grants: { "catalog.notify": { capabilities: { http: { allow: ["ftp://x/"] } } } },
      }),
    );
    const badGrant = await runBroker(["--config", config, "--no-catalog-publish"], {
      WASM_BROKER_DATA_DIR: dir,
    });
    assert.equal(badGrant.code, 2);
    assert.match(badGrant.stderr, /grants\["catalog\.notify"\]/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "broker serves health, handlers and metrics, runs a step and stops on SIGTERM",
  ignore: !canStartPostgres(),
  async fn() {
    const db = await startTestDatabase({ kind: "postgres" });
    const dataDir = await Deno.makeTempDir();
    const broker = spawnBroker({
      env: { DATABASE_URL: db.url!, WASM_BROKER_DATA_DIR: dataDir },
      args: ["--registry", await copyRegistry(), "--no-catalog-publish"],
    });
    const sim = new OrchestrationSimulator(db.client, { pollMs: 50 });
    const stopSim = new AbortController();
    const simRunning = sim.run({ signal: stopSim.signal });
    try {
      const url = await broker.adminUrl;
      assert.equal(await fetch(`${url}/health/live`).then((r) => r.body?.cancel()), undefined);
      const ready = await eventually(async () => {
        const response = await fetch(`${url}/health/ready`);
        const body = await response.json();
        return response.status === 200 ? body : undefined;
      }, "the broker to be ready");
      assert.equal(ready.checks.database.ok, true);
      assert.equal(ready.checks.sandboxes.ok, true);
      assert.ok(!broker.logs.some((l) => l.code === "tasker_schema_missing"), "schema present");
      // The default toast_compression asks the server and says what it chose: lz4 here when a
      // session asking for it works.
      const expected = (await toastCompressionSettings(db.url!, "lz4")).why;
      assert.ok(
        broker.logs.some((l) => l.msg === expected),
        `a log line ${JSON.stringify(expected)}`,
      );

      const handlers = await (await fetch(`${url}/v1/handlers`)).json();
      const transform = handlers.handlers.find((h: { name: string }) =>
        h.name === "catalog.transform"
      );
      assert.match(transform.digest, /^sha256:[0-9a-f]{64}$/);
      assert.deepEqual(transform.capabilities, ["io"]);

      await sim.registerTemplate({
        name: "one",
        namespace_name: "catalog",
        version: "1.0.0",
        steps: [{
          name: "double",
          handler: { callable: "catalog.transform", initialization: { filter: ".context.n * 2" } },
        }],
      });
      const { taskUuid } = await sim.createTask({ name: "one", context: { n: 21 } });
      const report = await sim.waitForTask(taskUuid, { timeoutMs: 60_000 });
      assert.equal(report.state, "complete");
      assert.equal(report.steps[0].result, 42);
      assert.deepEqual(sim.violations(), []);

      const metrics = await (await fetch(`${url}/metrics`)).text();
      assert.match(metrics, /tasker_steps_executions_total\{[^}]*step_name="double"[^}]*\} 1/);
      assert.match(metrics, /tasker_steps_successes_total\{[^}]*\} 1/);
      assert.match(metrics, /tasker_queue_depth\{[^}]*queue="worker_catalog_queue"[^}]*\} \d+/);
      assert.match(metrics, /wasm_broker_host_calls_total\{handler="catalog.transform"/);

      // Every log line is JSON; step lines carry the correlation id.
      const stepLines = broker.logs.filter((l) => l.step_uuid === report.steps[0].stepUuid);
      assert.ok(stepLines.length > 0, "step log lines");
      assert.ok(stepLines.every((l) => l.correlation_id === report.correlationId));

      broker.child.kill("SIGTERM");
      const status = await broker.exited;
      assert.equal(status.code, 0);
      assert.ok(broker.logs.some((l) => l.msg === "stopped"));
    } finally {
      stopSim.abort();
      await simRunning;
      await broker.kill();
      await db.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "broker warns at start-up, naming what is missing, when its database has no Tasker schema",
  ignore: !canStartPostgres(),
  async fn() {
    const db = await startTestDatabase({ kind: "postgres", skipTaskerDouble: true });
    const dataDir = await Deno.makeTempDir();
    const broker = spawnBroker({
      env: { DATABASE_URL: db.url!, WASM_BROKER_DATA_DIR: dataDir },
      args: ["--registry", await copyRegistry(), "--no-catalog-publish"],
    });
    try {
      const warning = await broker.waitForLog((l) => l.code === "tasker_schema_missing");
      assert.equal(warning.level, "warn");
      assert.deepEqual(warning.missing_in_tasker_database, [...TASKER_OBJECTS]);
      assert.deepEqual(warning.missing_in_queue_database, [
        "tasker.pgmq_send_with_notify(text,jsonb,integer)",
      ]);
      assert.match(String(warning.hint), /db:setup --tasker-double/);
      // A warning, not a refusal: the broker runs, and stops cleanly.
      await broker.adminUrl;
      broker.child.kill("SIGTERM");
      assert.equal((await broker.exited).code, 0);
    } finally {
      await broker.kill();
      await db.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "broker without DATABASE_URL opens the embedded database, becomes ready and stops on SIGINT (Ctrl-C) with exit 0",
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "wb-embedded-" });
    const registryDir = await copyRegistry();
    const broker = spawnBroker({
      env: { WASM_BROKER_DATA_DIR: dataDir },
      args: ["--registry", registryDir, "--no-catalog-publish"],
    });
    try {
      const adminUrl = await broker.adminUrl;
      await waitUntilReady(adminUrl, "the broker on the embedded database to be ready");
      // Its database is served for `deno task demo` and psql while it runs.
      const info = JSON.parse(await Deno.readTextFile(join(dataDir, "pglite/connection.json")));
      assert.match(info.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);

      broker.child.kill("SIGINT");
      const status = await broker.exited;
      assert.equal(status.code, 0, JSON.stringify(broker.logs.slice(-5)));
      assert.ok(broker.logs.some((l) => l.msg === "stopped" && l.exit_status === 0));
      await assert.rejects(
        Deno.stat(join(dataDir, "pglite/connection.json")),
        Deno.errors.NotFound,
        "the embedded database's connection file is removed on a clean stop",
      );
    } finally {
      await broker.kill();
      await Deno.remove(dataDir, { recursive: true });
      await Deno.remove(registryDir, { recursive: true });
    }
  },
});

Deno.test("broker redacts its configured secrets from its own log lines", async () => {
  // The secret is also the worker id, which every line of the broker carries.
  const secret = "0199c3e0-ccdb-7581-87ab-5ec2e7000001";
  const dataDir = await Deno.makeTempDir({ prefix: "wb-redact-" });
  const broker = spawnBroker({
    env: {
      WASM_BROKER_SECRET_PROBE: secret,
      // Refused at once: the broker logs the failure and keeps retrying.
      DATABASE_URL: "postgres://postgres@127.0.0.1:1/postgres",
      WASM_BROKER_DATA_DIR: dataDir,
    },
    args: ["--worker-id", secret, "--registry", join(dataDir, "registry"), "--no-catalog-publish"],
  });
  try {
    await broker.waitForLog((l) => l.msg === "database call failed; retrying");
    broker.child.kill("SIGTERM");
    assert.equal((await broker.exited).code, 0);
    const lines = broker.logs.filter((l) => !l.raw);
    assert.ok(lines.length >= 4, JSON.stringify(broker.logs));
    for (const line of lines.filter((l) => "worker_id" in l)) {
      assert.equal(line.worker_id, "[REDACTED]");
    }
    assert.ok(!JSON.stringify(broker.logs).includes(secret));
  } finally {
    await broker.kill();
    await Deno.remove(dataDir, { recursive: true });
  }
});
