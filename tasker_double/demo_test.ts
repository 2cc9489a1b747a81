import assert from "node:assert/strict";
import type { Broker } from "../src/broker/broker.ts";
import { startInProcessBroker } from "../tests/support/broker_harness.ts";
import {
  canStartPostgres,
  startTestDatabase,
  type TestDatabase,
} from "../tests/support/database_harness.ts";
import { main } from "./demo.ts";
import { FakeWorker, type FakeWorkerOptions } from "./_fake_worker.ts";
import { installTaskerDouble, installTaskerDoubleQueues } from "./install_tasker_double.ts";
import { nativeCatalogHandlers } from "./workflows/_native_handlers.ts";
import { DEMO_RECEIVER_PORT } from "./workflows/load_workflow.ts";

interface Captured {
  code: number;
  out: string[];
  err: string[];
}

/**
 * Runs the demo against a fresh PostgreSQL database while a fake SQL worker
 * (the catalog's native build) plays the broker.
 */
async function runDemo(
  args: string[],
  worker?: Omit<FakeWorkerOptions, "handlers"> & { handlers?: FakeWorkerOptions["handlers"] },
): Promise<Captured> {
  const db = await startTestDatabase({ kind: "postgres" });
  // A free port for the receiver; the worker's fetch maps the demo port onto it.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const fetchFn: typeof fetch = (input, init) =>
    fetch(String(input).replace(`:${DEMO_RECEIVER_PORT}/`, `:${port}/`), init);
  const out: string[] = [];
  const err: string[] = [];
  let done = false;
  const loop = (async () => {
    if (!worker) return;
    const w = new FakeWorker(db.client, { handlers: nativeCatalogHandlers(fetchFn), ...worker });
    while (!done) {
      const actions = await w.poll().catch(() => []);
      if (actions.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    const code = await main([...args, "--database-url", db.url!], {
      env: () => undefined,
      stdout: (l) => out.push(l),
      stderr: (l) => err.push(l),
      receiverPort: port,
    });
    return { code, out, err };
  } finally {
    done = true;
    await loop;
    await db.close();
  }
}

const pg = { ignore: !canStartPostgres() };

Deno.test("demo --help prints usage and exits 0; a bad workflow or flag exits 2", async () => {
  const out: string[] = [];
  assert.equal(await main(["--help"], { stdout: (l) => out.push(l) }), 0);
  assert.match(out.join("\n"), /Usage: deno task demo \[workflow\]/);
  for (const args of [["nope"], ["--timeout-ms", "0"], ["--bogus"], ["a", "b"]]) {
    const err: string[] = [];
    assert.equal(
      await main(args, { stderr: (l) => err.push(l), env: () => undefined }),
      2,
      args.join(" "),
    );
    assert.match(err.join("\n"), /deno task demo --help/);
  }
});

Deno.test("demo refuses a queue database without Tasker's, from the flag or the environment", async () => {
  const queueUrl = "postgres://q@127.0.0.1:1/q";
  const cases: [string[], Record<string, string>][] = [
    [["--pgmq-database-url", queueUrl], {}],
    [[], { PGMQ_DATABASE_URL: queueUrl }],
  ];
  for (const [args, env] of cases) {
    const err: string[] = [];
    assert.equal(await main(args, { env: (name) => env[name], stderr: (l) => err.push(l) }), 2);
    assert.match(err.join("\n"), /without --database-url \(DATABASE_URL\)/);
  }
});

Deno.test("demo says how to start a broker when there is no database to attach to", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "wb_demo_" });
  try {
    const err: string[] = [];
    const code = await main(["--data-dir", dataDir], {
      env: () => undefined,
      stderr: (l) => err.push(l),
    });
    assert.equal(code, 1);
    assert.match(err.join("\n"), /no database to run on/);
    assert.match(
      err.join("\n"),
      /deno task broker --config tasker_double\/workflows\/demo_broker_config\.json/,
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test({
  name: "demo runs order_pipeline to completion and prints every step's outcome and timing",
  ...pg,
  async fn() {
    const r = await runDemo(["order_pipeline"], {});
    assert.equal(r.code, 0, r.err.join("\n"));
    const text = r.out.join("\n");
    for (
      const name of ["validate_order", "price_order", "check_totals", "route_order", "auto_approve"]
    ) {
      assert.match(text, new RegExp(`^${name} +complete +1/\\d`, "m"), name);
    }
    assert.match(text, /route_order created auto_approve \(decision\)/);
    assert.match(text, /^task completed in \d+\.\d\d s$/m);
  },
});

Deno.test({
  name: "demo starts the webhook receiver for approval_notify and shows the delivery",
  ...pg,
  async fn() {
    const r = await runDemo(["approval_notify"], {});
    assert.equal(r.code, 0, r.err.join("\n"));
    const text = r.out.join("\n");
    assert.match(text, /^notify_requester +complete/m);
    assert.match(text, /webhook deliveries: 1\n {2}POST \/hooks\/approvals .*req-42/);
  },
});

Deno.test({
  name: "demo exits 1 with the failing step's error code when the task fails",
  ...pg,
  async fn() {
    const r = await runDemo(["order_pipeline", "--context", "context_invalid"], {});
    assert.equal(r.code, 1);
    assert.match(r.out.join("\n"), /^validate_order +error +1\/1 .*validation_failed$/m);
    assert.match(r.out.join("\n"), /task ended error .*\(step_failed at validate_order\)/);
  },
});

Deno.test({
  name: "demo gives up with a diagnosis when no worker reads the queue",
  ...pg,
  async fn() {
    const r = await runDemo(["order_pipeline", "--unclaimed-ms", "300"]);
    assert.equal(r.code, 1);
    assert.match(r.err.join("\n"), /no worker read its message from worker_catalog_queue/);
  },
});

Deno.test({
  name: "demo gives up with a diagnosis when a worker reads but does not serve the callable",
  ...pg,
  async fn() {
    const r = await runDemo(["order_pipeline", "--unclaimed-ms", "300"], {
      handlers: {},
      vtSeconds: 0,
    });
    assert.equal(r.code, 1);
    assert.match(
      r.err.join("\n"),
      /read \d+ time\(s\) but never claimed: the worker does not serve catalog\.validate/,
    );
  },
});

Deno.test({
  name: "demo reads --context from a file and reports a bad one as a usage error",
  ...pg,
  async fn() {
    const file = await Deno.makeTempFile({ suffix: ".json" });
    try {
      await Deno.writeTextFile(file, JSON.stringify({ customer_id: "c-3007" }));
      const r = await runDemo(["customer_offer", "--context", file], {});
      assert.equal(r.code, 0, r.err.join("\n"));
      assert.match(r.out.join("\n"), /^gold_offer +complete/m);
      await Deno.writeTextFile(file, "{not json");
      const err: string[] = [];
      assert.equal(
        await main(["customer_offer", "--context", file], {
          env: () => undefined,
          stderr: (l) => err.push(l),
        }),
        2,
      );
      assert.match(err.join("\n"), /Cannot parse --context/);
    } finally {
      await Deno.remove(file);
    }
  },
});

Deno.test({
  name: "demo runs a workflow with the queues in a database of their own (--pgmq-database-url)",
  ...pg,
  async fn() {
    // Tasker's tables in a database without pgmq, the queues in another, a real broker on both.
    const tasker = await startTestDatabase({ kind: "postgres", bare: true });
    let queue: TestDatabase | undefined;
    let broker: Broker | undefined;
    try {
      queue = await startTestDatabase({ kind: "postgres", skipTaskerDouble: true });
      // What the demo installs (it finds it current), so the broker starts on a ready schema.
      await installTaskerDouble(tasker.client, { queues: false });
      await installTaskerDoubleQueues(queue.client);
      broker = await startInProcessBroker(tasker.client, {
        queue: queue.client,
        settings: { pollIntervalMs: 100 },
      });
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(
        ["fan_out_report", "--database-url", tasker.url!, "--pgmq-database-url", queue.url!],
        { env: () => undefined, stdout: (l) => out.push(l), stderr: (l) => err.push(l) },
      );
      assert.equal(code, 0, [...out, ...err].join("\n"));
      assert.match(out.join("\n"), /^database: tasker .*, queues /m);
      assert.match(out.join("\n"), /^task completed in \d+\.\d\d s$/m);
      // Results went through the queue database; Tasker's has no pgmq at all.
      const [{ n }] = await tasker.client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgmq'`,
      );
      assert.equal(n, 0);
      // No broker: the diagnosis reads the message from one database and its step from the other.
      await broker.stop();
      broker = undefined;
      const alone: string[] = [];
      const unclaimed = await main(
        [
          "fan_out_report",
          "--database-url",
          tasker.url!,
          "--pgmq-database-url",
          queue.url!,
          "--unclaimed-ms",
          "300",
        ],
        { env: () => undefined, stdout: () => {}, stderr: (l) => alone.push(l) },
      );
      assert.equal(unclaimed, 1);
      assert.match(
        alone.join("\n"),
        /step \w+ waited 0\.3 s and no worker read its message from worker_catalog_queue/,
      );
    } finally {
      await broker?.stop();
      await queue?.close();
      await tasker.close();
    }
  },
});

Deno.test({
  name:
    "demo runs every example workflow end to end through the real broker: WASM catalog, sandboxes, the demo's grants",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // A real PostgreSQL when there is one, else PGlite served on a loopback port.
    const db = await startTestDatabase({ served: true });
    const config = JSON.parse(
      await Deno.readTextFile(new URL("./workflows/demo_broker_config.json", import.meta.url)),
    );
    const broker = await startInProcessBroker(db.client, {
      grants: config.grants,
      settings: { pollIntervalMs: 100 },
    });
    try {
      const expected: Record<string, RegExp[]> = {
        order_pipeline: [
          /^route_order +complete/m,
          /route_order created auto_approve \(decision\)/,
        ],
        fan_out_report: [/^order_count +complete/m],
        approval_notify: [/^notify_requester +complete/m, /webhook deliveries: 1\n/],
        customer_offer: [/^fetch_customer +complete/m, /^gold_offer +complete/m],
      };
      for (const [workflow, patterns] of Object.entries(expected)) {
        const out: string[] = [];
        const err: string[] = [];
        const code = await main([workflow, "--database-url", db.url!], {
          env: () => undefined,
          stdout: (l) => out.push(l),
          stderr: (l) => err.push(l),
        });
        const text = out.join("\n");
        assert.equal(code, 0, `${workflow}:\n${[...out, ...err].join("\n")}`);
        assert.match(text, /^task completed in \d+\.\d\d s$/m, workflow);
        for (const pattern of patterns) assert.match(text, pattern, workflow);
      }
    } finally {
      await broker.stop();
      await db.close();
    }
  },
});
