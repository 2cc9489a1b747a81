/**
 * `deno task demo`: runs one example workflow end to end against a running
 * broker — the broker does the steps, the Tasker double's orchestration
 * simulator does what Tasker's orchestration would — and prints each step's
 * outcome and timing. Test and demo tooling, not product code.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { openDatabase, type OpenedDatabase } from "../src/db/open_database.ts";
import { defaultDataDir } from "../src/registry/default_registry_dir.ts";
import { installTaskerDouble, installTaskerDoubleQueues } from "./install_tasker_double.ts";
import {
  OrchestrationSimulator,
  type SimEvent,
  type TaskReport,
} from "./orchestration_simulator.ts";
import { TaskerDoubleError } from "./tasker_double_error.ts";
import { type DemoReceiver, startDemoReceiver } from "./workflows/demo_receiver.ts";
import {
  DEMO_RECEIVER_PORT,
  isWorkflowName,
  loadWorkflow,
  WORKFLOW_NAMES,
  type WorkflowName,
} from "./workflows/load_workflow.ts";

const HELP = `Usage: deno task demo [workflow] [options]

Runs one example workflow end to end against a running broker and prints each
step's outcome and timing. The broker executes the steps; this process plays
Tasker's orchestration (tasker_double/, test and demo tooling): it installs the
Tasker double's schema if needed, registers the workflow's task template,
creates a task, enqueues ready steps, consumes the broker's results and
retries, follows decisions and fan-outs, until the task completes or fails.

Workflows: ${WORKFLOW_NAMES.join(", ")} (default order_pipeline)

Database: --database-url, else DATABASE_URL, else the embedded database of a
broker running on this machine (<data dir>/pglite/connection.json); with
--pgmq-database-url (or PGMQ_DATABASE_URL) the queues live in that database and
Tasker's tables in the first, as for a broker given both (a queue database
without a Tasker one is refused). Start the broker first, in another terminal:

  deno task broker --config tasker_double/workflows/demo_broker_config.json

The config grants catalog.notify and catalog.http_request the demo's loopback
receiver (127.0.0.1:${DEMO_RECEIVER_PORT}), which approval_notify and
customer_offer need; this command starts that receiver itself.

Options:
  --database-url <url>   PostgreSQL: Tasker's tables, and pgmq unless the queues are apart
                         (default: DATABASE_URL, else the broker's embedded one)
  --pgmq-database-url <url>
                         The queues in a database of their own, as the broker's PGMQ_DATABASE_URL
                         (default: PGMQ_DATABASE_URL); Tasker's tables stay in --database-url
  --data-dir <dir>       Where the broker keeps its embedded database (default: WASM_BROKER_DATA_DIR or ./data)
  --context <file|name>  Task context: a JSON file, or a sample of the workflow
                         (context, context_large, context_invalid, context_pending, context_standard)
  --timeout-ms <n>       Give up after n ms (default 60000)
  --unclaimed-ms <n>     Give up when a step's message waits unclaimed n ms (default 15000)
  -h, --help             Show this help

Exit status: 0 when the task completed, 1 when it failed or could not run, 2 usage error.
`;

/** Injected effects of {@link main}, for tests. */
export interface DemoOptions {
  env?: (name: string) => string | undefined;
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
  /** Port of the loopback receiver (default {@link DEMO_RECEIVER_PORT}; tests pass 0). */
  receiverPort?: number;
}

class UsageError extends Error {}

interface DemoArgs {
  workflow: WorkflowName;
  databaseUrl?: string;
  pgmqDatabaseUrl?: string;
  dataDir?: string;
  context?: string;
  timeoutMs: number;
  unclaimedMs: number;
}

function parse(args: string[], env: (name: string) => string | undefined): DemoArgs | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        help: { type: "boolean", short: "h" },
        "database-url": { type: "string" },
        "pgmq-database-url": { type: "string" },
        "data-dir": { type: "string" },
        context: { type: "string" },
        "timeout-ms": { type: "string" },
        "unclaimed-ms": { type: "string" },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return "help";
  if (positionals.length > 1) {
    throw new UsageError(`Cannot run more than one workflow: got ${positionals.join(", ")}`);
  }
  const workflow = positionals[0] ?? "order_pipeline";
  if (!isWorkflowName(workflow)) {
    throw new UsageError(
      `Cannot run workflow "${workflow}" as it is not one of ${WORKFLOW_NAMES.join(", ")}`,
    );
  }
  const positive = (flag: string, text: string | undefined, fallback: number) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n <= 0) {
      throw new UsageError(
        `Cannot use --${flag} as it is not a positive integer: current value is ${text}`,
      );
    }
    return n;
  };
  const databaseUrl = values["database-url"] ?? env("DATABASE_URL");
  const pgmqDatabaseUrl = values["pgmq-database-url"] ?? env("PGMQ_DATABASE_URL");
  if (pgmqDatabaseUrl && !databaseUrl) {
    throw new UsageError(
      "Cannot use --pgmq-database-url (PGMQ_DATABASE_URL) without --database-url (DATABASE_URL): " +
        "queues in a database of their own need Tasker's database beside them",
    );
  }
  return {
    workflow,
    databaseUrl,
    pgmqDatabaseUrl,
    dataDir: values["data-dir"],
    context: values.context,
    timeoutMs: positive("timeout-ms", values["timeout-ms"], 60_000),
    unclaimedMs: positive("unclaimed-ms", values["unclaimed-ms"], 15_000),
  };
}

/**
 * Runs the demo; returns the exit status (0 complete, 1 failed or could not
 * run, 2 usage error).
 *
 * @example
 * ```ts ignore
 * import { main } from "./demo.ts";
 * Deno.exit(await main(["approval_notify", "--timeout-ms", "30000"]));
 * ```
 */
export async function main(args: string[], options: DemoOptions = {}): Promise<number> {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const out = options.stdout ?? ((line: string) => console.log(line));
  const err = options.stderr ?? ((line: string) => console.error(line));
  let demo: DemoArgs;
  try {
    const parsed = parse(args, env);
    if (parsed === "help") {
      out(HELP);
      return 0;
    }
    demo = parsed;
  } catch (error) {
    if (error instanceof UsageError) {
      err(`demo: ${error.message}\n\nRun \`deno task demo --help\` for usage.`);
      return 2;
    }
    throw error;
  }

  const workflow = await loadWorkflow(demo.workflow);
  let context: unknown;
  try {
    context = await resolveContext(demo.context, workflow.contexts);
  } catch (error) {
    err(`demo: ${(error as Error).message}`);
    return 2;
  }

  let db: OpenedDatabase;
  try {
    db = await openDatabase({
      databaseUrl: demo.databaseUrl,
      pgmqDatabaseUrl: demo.pgmqDatabaseUrl,
      dataDir: demo.dataDir ?? defaultDataDir(env),
      embedded: "attach",
      requireReachable: true,
      max: 4,
      applicationName: "wasm-broker-demo",
    });
  } catch (error) {
    err(
      `demo: no database to run on: ${(error as Error).message}\n` +
        (demo.databaseUrl
          ? ""
          : "Start the broker first (it opens the embedded database), in another terminal:\n" +
            "  deno task broker --config tasker_double/workflows/demo_broker_config.json\n" +
            "or point the demo and the broker at PostgreSQL with DATABASE_URL."),
    );
    return 1;
  }

  let receiver: DemoReceiver | undefined;
  const stop = new AbortController();
  let running: Promise<void> | undefined;
  try {
    const client = db.tasker;
    out(`wasm-broker demo: ${workflow.name} — ${workflow.template.description ?? ""}`);
    out(`database: ${db.describe}`);
    if (db.queue === client) await installTaskerDouble(client);
    else {
      // Split as Tasker splits its migrations: tables here, queue functions with the queues.
      await installTaskerDouble(client, { queues: false });
      await installTaskerDoubleQueues(db.queue);
    }
    const needsReceiver = workflow.template.steps.some((s) =>
      s.handler.callable.startsWith("catalog.notify") ||
      s.handler.callable.startsWith("catalog.http_request")
    );
    if (needsReceiver) {
      try {
        receiver = await startDemoReceiver({ port: options.receiverPort ?? DEMO_RECEIVER_PORT });
      } catch (error) {
        err(
          `demo: cannot start the loopback receiver on 127.0.0.1:${
            options.receiverPort ?? DEMO_RECEIVER_PORT
          }: ${(error as Error).message} (is another demo running?)`,
        );
        return 1;
      }
      out(
        `receiver: http://127.0.0.1:${receiver.port} (the broker needs the grants in tasker_double/workflows/demo_broker_config.json)`,
      );
    }

    const started = performance.now();
    const at = () => `+${String(Math.round(performance.now() - started)).padStart(6)} ms`;
    const sim = new OrchestrationSimulator(client, {
      queue: db.queue,
      pollMs: 50,
      // Backoff hints (the gate's poll_seconds, Retry-After) are honoured up to this, so a demo
      // retry shows without a long wait.
      maxRetryDelaySeconds: 2,
      log: (event) => {
        const line = describeEvent(event);
        if (line) out(`${at()}  ${line}`);
      },
    });
    await sim.registerTemplate(workflow.template);
    running = sim.run({ signal: stop.signal });
    const { taskUuid, correlationId } = await sim.createTask({
      name: workflow.template.name,
      context,
    });
    out(`task ${taskUuid} (correlation ${correlationId})`);

    const report = await waitOrDiagnose(
      sim,
      db,
      taskUuid,
      demo,
      workflow.template.namespace_name,
    );
    out("");
    printReport(report.report, out);
    if (receiver && receiver.hooks.length > 0) {
      out(`webhook deliveries: ${receiver.hooks.length}`);
      for (const h of receiver.hooks) out(`  POST ${h.path} ${clip(JSON.stringify(h.body), 100)}`);
    }
    const violations = sim.violations();
    if (violations.length > 0) {
      out(`protocol violations by the worker (${violations.length}):`);
      for (const v of violations) out(`  ${v.kind} ${v.stepName ?? ""}: ${v.problems.join("; ")}`);
    }
    if (report.problem) err(`demo: ${report.problem}`);
    return report.report.state === "complete" && !report.problem ? 0 : 1;
  } catch (error) {
    err(
      `demo: ${error instanceof TaskerDoubleError ? `${error.code}: ` : ""}${
        (error as Error).message
      }`,
    );
    return 1;
  } finally {
    stop.abort();
    await running?.catch(() => {});
    await receiver?.close();
    await db.close();
  }
}

async function resolveContext(
  context: string | undefined,
  samples: Record<string, unknown>,
): Promise<unknown> {
  if (context === undefined) return samples.context;
  if (context in samples) return samples[context];
  let text: string;
  try {
    text = await Deno.readTextFile(context);
  } catch (error) {
    throw new Error(
      `Cannot read --context ${context}: ${(error as Error).message} (samples: ${
        Object.keys(samples).join(", ")
      })`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`Cannot parse --context ${context} as JSON: ${(error as Error).message}`);
  }
}

/**
 * Waits for the task; gives up early, with a diagnosis, when a step's message
 * sits unclaimed: nobody reads the queue (no broker on this database), or a
 * worker reads it and leaves it (it does not serve the callable).
 */
async function waitOrDiagnose(
  sim: OrchestrationSimulator,
  db: OpenedDatabase,
  taskUuid: string,
  demo: DemoArgs,
  namespace: string,
): Promise<{ report: TaskReport; problem?: string }> {
  const deadline = Date.now() + demo.timeoutMs;
  for (;;) {
    const report = await sim.taskReport(taskUuid);
    if (report.state === "complete" || report.state === "error") return { report };
    if (Date.now() >= deadline) {
      return {
        report,
        problem: `the task is still ${report.state} after ${demo.timeoutMs} ms (--timeout-ms)`,
      };
    }
    // The message from the queues' database, then its step from Tasker's: they may be apart.
    const [message] = await db.queue.query<
      { step_uuid: string; waited_ms: number; read_ct: number }
    >(
      `SELECT m.message->>'step_uuid' AS step_uuid, m.read_ct,
              EXTRACT(EPOCH FROM (clock_timestamp() - m.enqueued_at)) * 1000 AS waited_ms
         FROM pgmq."q_worker_${namespace}_queue" m
        WHERE lower(m.message->>'task_uuid') = lower($1) AND NOT (m.read_ct = 0 AND m.vt > clock_timestamp())
        ORDER BY m.enqueued_at LIMIT 1`,
      [taskUuid],
    );
    const waiting = message && Number(message.waited_ms) >= demo.unclaimedMs
      ? await db.tasker.query<{ step_name: string; callable: string | null }>(
        `SELECT ns.name AS step_name,
                (SELECT s->'handler'->>'callable' FROM jsonb_array_elements(nt.configuration->'steps') s
                  WHERE s->>'name' = COALESCE(ws.inputs->>'__template_step_name', ns.name)) AS callable
           FROM tasker.workflow_steps ws
           JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
           JOIN tasker.tasks t ON t.task_uuid = ws.task_uuid
           JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
          WHERE ws.workflow_step_uuid::text = lower($1) AND ws.task_uuid::text = lower($2)`,
        [message.step_uuid, taskUuid],
      )
      : [];
    const w = waiting[0] && { ...waiting[0], read_ct: message.read_ct };
    // A claim archives the message, so one still here long after it was sent is unclaimed
    // (messages still inside a retry delay are left out above).
    if (w) {
      const seconds = (demo.unclaimedMs / 1000).toFixed(1);
      const problem = w.read_ct === 0
        ? `step ${w.step_name} waited ${seconds} s and no worker read its message from worker_${namespace}_queue: ` +
          `is a broker serving namespace ${namespace} reading that queue?`
        : `step ${w.step_name}'s message was read ${w.read_ct} time(s) but never claimed: the worker does not serve ` +
          `${w.callable ?? "its callable"} (is the catalog published in the broker's registry?)`;
      return { report, problem };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function describeEvent(event: SimEvent): string | undefined {
  switch (event.type) {
    case "task_created":
      return `task created with ${event.steps.join(", ")}`;
    case "step_enqueued":
      return `${event.stepName} enqueued${
        event.delaySeconds ? ` (visible in ${event.delaySeconds} s)` : ""
      }`;
    case "step_completed":
      return `${event.stepName} complete (attempt ${event.attempts})`;
    case "step_retrying":
      return `${event.stepName} failed with ${
        event.errorCode ?? "an error"
      }, retrying (attempt ${event.attempts}/${event.maxAttempts})`;
    case "step_failed":
      return `${event.stepName} failed with ${
        event.errorCode ?? "an error"
      } after ${event.attempts} attempt(s): ${clip(event.message ?? "", 120)}`;
    case "steps_created":
      return `${event.parent} created ${event.steps.join(", ")} (${event.by})`;
    case "task_completed":
      return "task complete";
    case "task_failed":
      return `task failed: ${event.reason}${event.stepName ? ` at ${event.stepName}` : ""}${
        event.detail ? ` (${clip(event.detail, 160)})` : ""
      }`;
    case "step_reset":
      return `${event.stepName} reset after staleness`;
    case "violation":
      return `protocol violation (${event.violation.kind}) at ${event.violation.stepName ?? "?"}`;
    case "error":
      return `orchestration error: ${clip(event.message, 160)}`;
  }
}

function printReport(report: TaskReport, out: (line: string) => void): void {
  const rows = report.steps.map((s) => [
    s.name,
    s.state,
    `${s.attempts}/${s.maxAttempts}`,
    s.executionMs === undefined ? "-" : String(s.executionMs),
    s.elapsedMs === undefined ? "-" : String(Math.round(s.elapsedMs)),
    s.errorCode ?? (s.result === undefined ? "" : clip(showResult(s.result), 60)),
  ]);
  const header = ["step", "state", "attempts", "run ms", "total ms", "error / result"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((
      c,
      i,
    ) => (i === 2 || i === 3 || i === 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ")
      .trimEnd();
  out(line(header));
  for (const r of rows) out(line(r));
  out("");
  const outcome = report.state === "complete" ? "completed" : `ended ${report.state}`;
  out(
    `task ${outcome} in ${(report.elapsedMs / 1000).toFixed(2)} s` +
      (report.failure
        ? ` (${report.failure.reason}${
          report.failure.stepName ? ` at ${report.failure.stepName}` : ""
        })`
        : ""),
  );
}

/** A result for the table: an aggregate's `result` first (jsonb reorders keys by length). */
function showResult(result: unknown): string {
  if (
    typeof result === "object" && result !== null && !Array.isArray(result) && "result" in result
  ) {
    const { result: value, ...rest } = result as Record<string, unknown>;
    return `result=${JSON.stringify(value)} ${JSON.stringify(rest)}`;
  }
  return JSON.stringify(result);
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
