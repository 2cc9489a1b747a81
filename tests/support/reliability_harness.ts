/**
 * Helpers for the broker reliability tests (`tests/broker_exactly_once_test.ts`,
 * `tests/broker_crash_recovery_test.ts`), on top of `broker_harness.ts`:
 *
 * - broker subprocesses with a known worker id, started and stopped;
 * - the simulator running in the background;
 * - a guest that spins for a wall-clock duration (CPU-bound, so a killed
 *   broker's orphaned sandbox would be visible);
 * - locks held from a separate connection, which pause a broker at an exact
 *   statement (its backend waits on the lock) so a crash window can be hit
 *   deterministically;
 * - `/proc` helpers (descendant processes, liveness, CPU time);
 * - SQL summaries of what the database recorded per step.
 *
 * @module
 */
import { join } from "node:path";
import type { SqlClient, SqlExecutor } from "../../src/db/sql_client.ts";
import { connectPostgres } from "../../src/db/postgres_client.ts";
import { FileRegistry } from "../../src/registry/file_registry.ts";
import {
  OrchestrationSimulator,
  type OrchestrationSimulatorOptions,
} from "../../tasker_double/orchestration_simulator.ts";
import { type BrokerProcess, copyRegistry, eventually, spawnBroker } from "./broker_harness.ts";
import type { TestDatabase } from "./database_harness.ts";
import { wat } from "./wat.ts";

/** The namespace queue every reliability test uses. */
export const QUEUE = "worker_catalog_queue";

/** A broker subprocess with the worker id it writes into transitions and results. */
export interface TestBroker extends BrokerProcess {
  workerId: string;
  /** Its data directory (removed by {@link stopBroker} and {@link killBroker}). */
  dataDir: string;
  /** Directories to remove once it has exited (its data dir, a registry copy it owns). */
  cleanup: string[];
}

/** Options for {@link startBroker}. */
export interface StartBrokerOptions {
  /** A registry directory (default: a fresh copy of the catalog registry, removed with the broker). */
  registryDir?: string;
  /** Extra CLI flags (`--concurrency`, `--visibility-timeout-s`, ...). */
  args?: string[];
  /** A broker config file's content (written to the data dir and passed as `--config`). */
  config?: Record<string, unknown>;
  /** Print the broker's log lines. */
  echo?: boolean;
}

/**
 * Spawns `deno task broker` on `db` (real PostgreSQL) with a fresh worker id
 * and waits until its loop has started (`broker.started` logged).
 */
export async function startBroker(
  db: TestDatabase,
  options: StartBrokerOptions = {},
): Promise<TestBroker> {
  if (!db.url) throw new TypeError("Cannot start a broker subprocess on a database without a URL");
  const workerId = crypto.randomUUID();
  const dataDir = await Deno.makeTempDir({ prefix: "wb-reliability-" });
  const cleanup = [dataDir];
  let registryDir = options.registryDir;
  if (!registryDir) {
    registryDir = await copyRegistry();
    cleanup.push(registryDir);
  }
  const args = [
    "--registry",
    registryDir,
    "--no-catalog-publish",
    "--worker-id",
    workerId,
    "--poll-interval-ms",
    "200",
  ];
  if (options.config) {
    const path = join(dataDir, "broker.json");
    await Deno.writeTextFile(path, JSON.stringify(options.config));
    args.push("--config", path);
  }
  args.push(...(options.args ?? []));
  const broker = spawnBroker({
    env: { DATABASE_URL: db.url, WASM_BROKER_DATA_DIR: dataDir, LOG_LEVEL: "debug" },
    args,
    echo: options.echo,
  });
  const started = { ...broker, workerId, dataDir, cleanup };
  try {
    await broker.waitForLog((l) => l.msg === "broker.started", 120_000);
  } catch (error) {
    await killBroker(started);
    throw new Error(`broker did not start; last log lines: ${tail(broker.logs)}`, {
      cause: error,
    });
  }
  return started;
}

/** The last log lines of a broker, for failure messages. */
export function tail(logs: Record<string, unknown>[], n = 15): string {
  return logs.slice(-n).map((l) => JSON.stringify(l)).join("\n");
}

/** SIGTERM, then the exit status (SIGKILL after `timeoutMs`, and a thrown error). */
export async function stopBroker(
  broker: TestBroker,
  timeoutMs = 90_000,
): Promise<Deno.CommandStatus> {
  try {
    broker.child.kill("SIGTERM");
  } catch {
    // Already gone.
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const status = await Promise.race([broker.exited, timedOut]);
  clearTimeout(timer);
  if (status === "timeout") {
    await killBroker(broker);
    throw new Error(`broker ${broker.child.pid} did not exit within ${timeoutMs} ms of SIGTERM`);
  }
  await removeDirs(broker);
  return status;
}

async function removeDirs(broker: TestBroker): Promise<void> {
  for (const dir of broker.cleanup) await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/** SIGKILL (for cleanup after a failure); waits for the exit. */
export async function killBroker(broker: TestBroker): Promise<void> {
  try {
    broker.child.kill("SIGKILL");
  } catch {
    // Already gone.
  }
  await broker.exited.catch(() => {});
  await removeDirs(broker);
}

/** An orchestration simulator whose `run()` loop is going in the background. */
export interface RunningSimulator {
  sim: OrchestrationSimulator;
  /** Stops the loop and waits for it. */
  stop(): Promise<void>;
}

/** Starts a simulator on `client` and its `run()` loop. */
export function runSimulator(
  client: SqlClient,
  options: OrchestrationSimulatorOptions = {},
): RunningSimulator {
  const sim = new OrchestrationSimulator(client, { pollMs: 50, ...options });
  const abort = new AbortController();
  const running = sim.run({ signal: abort.signal });
  return {
    sim,
    stop: async () => {
      abort.abort();
      await running;
    },
  };
}

// ---------------------------------------------------------------- spin guest

/** Name of the guest {@link publishSpinGuest} publishes. */
export const SPIN_GUEST = "test.spin";

/**
 * A guest that keeps a core busy for `spinMs` of wall-clock time (read
 * through `time.monotonic_ns` every million iterations, so the duration does
 * not depend on the machine's speed), then writes `{"spun":true}`. Bounded:
 * after 50,000 clock reads it stops regardless.
 */
export function spinGuest(spinMs: number): Uint8Array<ArrayBuffer> {
  const spinNs = BigInt(Math.round(spinMs)) * 1_000_000n;
  return wat(`(module
  (import "time" "monotonic_ns" (func $now (result i64)))
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $sink (mut i32) (i32.const 0))
  (data (i32.const 0) "{\\"spun\\":true}")
  (func (export "run") (result i32)
    (local $deadline i64) (local $i i32) (local $reads i32)
    (local.set $deadline (i64.add (call $now) (i64.const ${spinNs})))
    (block $done
      (loop $outer
        (local.set $i (i32.const 1000000))
        (loop $inner
          ;; A store to a global each turn: the loop cannot be optimised away.
          (global.set $sink (i32.add (global.get $sink) (local.get $i)))
          (local.set $i (i32.sub (local.get $i) (i32.const 1)))
          (br_if $inner (local.get $i)))
        (local.set $reads (i32.add (local.get $reads) (i32.const 1)))
        (br_if $done (i32.ge_u (local.get $reads) (i32.const 50000)))
        (br_if $outer (i64.lt_s (call $now) (local.get $deadline)))))
    (drop (call $write (i32.const 0) (i32.const 13)))
    (i32.const 0)))`);
}

/**
 * Publishes {@link spinGuest} as `test.spin@1.0.0` into `registryDir`
 * (a copy from `copyRegistry()`), with a 120 s step timeout.
 */
export async function publishSpinGuest(registryDir: string, spinMs: number): Promise<void> {
  await new FileRegistry(registryDir).publish({
    name: SPIN_GUEST,
    version: "1.0.0",
    module: spinGuest(spinMs),
    manifest: {
      name: SPIN_GUEST,
      description: `Spins for ${spinMs} ms (reliability tests)`,
      capabilities: { io: {}, time: {} },
      limits: { memory: "1MiB", timeout_ms: 120_000, host_calls: { time: 60_000 } },
    },
    description: 'Keeps a core busy for a fixed wall-clock time, then writes {"spun":true}',
  });
}

// ---------------------------------------------------------------- locks

/** A transaction held open on its own connection until released. */
export interface HeldLock {
  /** Rolls the transaction back (releasing its locks) and closes the connection. */
  release(): Promise<void>;
}

/**
 * Opens a connection to `url`, begins a transaction, runs `statements` in it
 * (e.g. `LOCK TABLE …` or `SELECT … FOR UPDATE`) and keeps it open until
 * `release()`. Any backend that needs a conflicting lock waits meanwhile:
 * the tests use this to pause a broker at one exact statement.
 */
export async function holdLock(
  url: string,
  statements: { text: string; params?: unknown[] }[],
): Promise<HeldLock> {
  const client = connectPostgres(url, { max: 1, applicationName: "wb-test-lock" });
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let held!: () => void;
  let failed!: (error: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    held = resolve;
    failed = reject;
  });
  const done = client.transaction(async (tx: SqlExecutor) => {
    for (const s of statements) await tx.query(s.text, s.params ?? []);
    held();
    await released;
    // Throwing rolls back: nothing this transaction did is kept.
    throw new RollbackOnPurpose();
  }).catch((error) => {
    if (!(error instanceof RollbackOnPurpose)) failed(error);
  });
  try {
    await ready;
  } catch (error) {
    await client.close().catch(() => {});
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    release: () =>
      closing ??= (async () => {
        release();
        await done;
        await client.close();
      })(),
  };
}

class RollbackOnPurpose extends Error {}

/** A backend of a broker (application `wasm-broker`) waiting for a lock. */
export interface WaitingBackend {
  pid: number;
  query: string;
}

/** Broker backends currently waiting on a lock whose query contains `fragment`. */
export async function brokerBackendsWaiting(
  client: SqlClient,
  fragment: string,
): Promise<WaitingBackend[]> {
  return await client.query<WaitingBackend>(
    `SELECT pid, query FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'wasm-broker'
        AND wait_event_type = 'Lock' AND position($1 in query) > 0`,
    [fragment],
  );
}

/**
 * Ends a backend (`pg_terminate_backend`) and waits until it is gone. A
 * statement it was waiting to run is cancelled and its transaction rolled
 * back — what happens to a statement a dead broker never got to send.
 */
export async function terminateBackend(client: SqlClient, pid: number): Promise<void> {
  const [row] = await client.query<{ ok: boolean }>("SELECT pg_terminate_backend($1) AS ok", [
    pid,
  ]);
  if (!row?.ok) throw new Error(`Cannot terminate backend ${pid} as it is not running`);
  await eventually(
    async () => (await backendAlive(client, pid)) ? undefined : true,
    `backend ${pid} to end`,
  );
}

/** Whether a backend with this pid is still connected. */
export async function backendAlive(client: SqlClient, pid: number): Promise<boolean> {
  const rows = await client.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [pid]);
  return rows.length > 0;
}

// ---------------------------------------------------------------- /proc

/** `/proc/<pid>/stat` fields after the command name, or undefined when the process is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** Whether a process runs (a zombie, dead but not yet reaped, counts as dead). */
export function pidAlive(pid: number): boolean {
  const fields = statFields(pid);
  return fields !== undefined && fields[0] !== "Z" && fields[0] !== "X";
}

/** User + system CPU time of a process in clock ticks (0 when gone). */
export function cpuTicks(pid: number): number {
  const fields = statFields(pid);
  return fields ? Number(fields[11]) + Number(fields[12]) : 0;
}

/** Every live descendant of `pid` (children, their children, ...). */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const fields = statFields(Number(entry.name));
    if (fields && fields[0] !== "Z") parents.set(Number(entry.name), Number(fields[1]));
  }
  const out: number[] = [];
  const frontier = [pid];
  while (frontier.length) {
    const parent = frontier.pop()!;
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        out.push(child);
        frontier.push(child);
      }
    }
  }
  return out;
}

/** The command line of a process ("" when gone). */
export function commandLine(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ").trim();
  } catch {
    return "";
  }
}

/** The broker's sandbox processes (descendants running `sandbox_main.ts`). */
export function sandboxPids(brokerPid: number): number[] {
  return descendants(brokerPid).filter((pid) => commandLine(pid).includes("sandbox_main"));
}

/**
 * Waits until one of the broker's sandbox processes has burnt `minTicks`
 * clock ticks of CPU since this call began watching it (it is running a
 * spinning guest); returns its pid.
 */
export function busySandbox(brokerPid: number, minTicks = 30, timeoutMs = 60_000): Promise<number> {
  const baseline = new Map<number, number>();
  return eventually(
    () => {
      for (const pid of sandboxPids(brokerPid)) {
        const ticks = cpuTicks(pid);
        if (!baseline.has(pid)) baseline.set(pid, ticks);
        else if (ticks - baseline.get(pid)! >= minTicks) return pid;
      }
      return undefined;
    },
    `a sandbox of broker ${brokerPid} to spin`,
    timeoutMs,
  );
}

/** Waits until none of `pids` is alive; throws naming the survivors. */
export async function allDead(pids: number[], timeoutMs = 30_000): Promise<void> {
  await eventually(
    () => pids.every((pid) => !pidAlive(pid)) ? true : undefined,
    `processes ${pids.filter(pidAlive).join(", ")} to die`,
    timeoutMs,
  );
}

// ---------------------------------------------------------------- database views

/** What the database recorded for one step. */
export interface StepLedger {
  stepUuid: string;
  name: string;
  taskUuid: string;
  state: string;
  attempts: number;
  inProcess: boolean;
  /** Transitions by `to_state`. */
  transitions: Record<string, number>;
  /** `worker_uuid` of every `in_progress` transition, in order. */
  claimedBy: string[];
  /** `worker_uuid` of every report transition (`enqueued_*_for_orchestration`). */
  reportedBy: string[];
  /** Rows with `most_recent = true` (must be 1). */
  mostRecent: number;
  /** `results.metadata.worker_id`. */
  resultWorker: string | null;
  resultSuccess: boolean | null;
  result: unknown;
  /** Result messages for this step in `orchestration_step_results` (queued + archived). */
  resultMessages: number;
  /** Step messages for this step in the namespace queue (queued + archived). */
  stepMessages: number;
  /** `read_ct` of each step message, oldest first. */
  stepMessageReads: number[];
}

/** Every step of the database (or of one task), with its ledger. */
export async function stepLedgers(client: SqlClient, taskUuid?: string): Promise<StepLedger[]> {
  const rows = await client.query<{
    step_uuid: string;
    name: string;
    task_uuid: string;
    state: string | null;
    attempts: number | null;
    in_process: boolean;
    transitions: Record<string, number> | null;
    claimed_by: string[] | null;
    reported_by: string[] | null;
    most_recent: number;
    result_worker: string | null;
    result_success: boolean | null;
    result: unknown;
    result_messages: number;
    step_messages: number;
    step_message_reads: number[] | null;
  }>(
    `WITH msgs AS (
       SELECT message->>'step_uuid' AS step_uuid, msg_id, read_ct FROM pgmq.q_${QUEUE}
       UNION ALL
       SELECT message->>'step_uuid', msg_id, read_ct FROM pgmq.a_${QUEUE}
     ), results AS (
       SELECT message->>'step_uuid' AS step_uuid FROM pgmq.q_orchestration_step_results
       UNION ALL
       SELECT message->>'step_uuid' FROM pgmq.a_orchestration_step_results
     )
     SELECT ws.workflow_step_uuid::text AS step_uuid, ns.name, ws.task_uuid::text AS task_uuid,
            (SELECT to_state FROM tasker.workflow_step_transitions t
              WHERE t.workflow_step_uuid = ws.workflow_step_uuid AND t.most_recent) AS state,
            ws.attempts, ws.in_process,
            (SELECT jsonb_object_agg(to_state, n) FROM (
               SELECT to_state, count(*)::int AS n FROM tasker.workflow_step_transitions t
                WHERE t.workflow_step_uuid = ws.workflow_step_uuid GROUP BY to_state) c) AS transitions,
            (SELECT jsonb_agg(t.metadata->>'worker_uuid' ORDER BY t.sort_key)
               FROM tasker.workflow_step_transitions t
              WHERE t.workflow_step_uuid = ws.workflow_step_uuid AND t.to_state = 'in_progress') AS claimed_by,
            (SELECT jsonb_agg(t.metadata->>'worker_uuid' ORDER BY t.sort_key)
               FROM tasker.workflow_step_transitions t
              WHERE t.workflow_step_uuid = ws.workflow_step_uuid
                AND t.to_state IN ('enqueued_for_orchestration', 'enqueued_as_error_for_orchestration')) AS reported_by,
            (SELECT count(*)::int FROM tasker.workflow_step_transitions t
              WHERE t.workflow_step_uuid = ws.workflow_step_uuid AND t.most_recent) AS most_recent,
            ws.results->'metadata'->>'worker_id' AS result_worker,
            (ws.results->>'success')::boolean AS result_success,
            ws.results->'result' AS result,
            (SELECT count(*)::int FROM results r WHERE r.step_uuid = ws.workflow_step_uuid::text) AS result_messages,
            (SELECT count(*)::int FROM msgs m WHERE m.step_uuid = ws.workflow_step_uuid::text) AS step_messages,
            (SELECT jsonb_agg(m.read_ct::int ORDER BY m.msg_id) FROM msgs m
              WHERE m.step_uuid = ws.workflow_step_uuid::text) AS step_message_reads
       FROM tasker.workflow_steps ws
       JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
      WHERE $1::uuid IS NULL OR ws.task_uuid = $1::uuid
      ORDER BY ws.task_uuid, ns.name`,
    [taskUuid ?? null],
  );
  return rows.map((r) => ({
    stepUuid: r.step_uuid,
    name: r.name,
    taskUuid: r.task_uuid,
    state: r.state ?? "pending",
    attempts: r.attempts ?? 0,
    inProcess: r.in_process,
    transitions: r.transitions ?? {},
    claimedBy: r.claimed_by ?? [],
    reportedBy: r.reported_by ?? [],
    mostRecent: r.most_recent,
    resultWorker: r.result_worker,
    resultSuccess: r.result_success,
    result: r.result,
    resultMessages: r.result_messages,
    stepMessages: r.step_messages,
    stepMessageReads: r.step_message_reads ?? [],
  }));
}

/** The one step of a task (throws unless there is exactly one). */
export async function onlyStep(client: SqlClient, taskUuid: string): Promise<StepLedger> {
  const steps = await stepLedgers(client, taskUuid);
  if (steps.length !== 1) throw new Error(`expected one step, found ${steps.length}`);
  return steps[0];
}

/** The namespace queue's message for a step, while it is still queued (not archived). */
export async function queuedMessage(
  client: SqlClient,
  stepUuid: string,
): Promise<{ msgId: number; readCt: number; invisibleForS: number } | undefined> {
  const [row] = await client.query<{ msg_id: number; read_ct: number; invisible_for_s: number }>(
    `SELECT msg_id, read_ct, EXTRACT(EPOCH FROM (vt - clock_timestamp()))::float8 AS invisible_for_s
       FROM pgmq.q_${QUEUE} WHERE message->>'step_uuid' = $1`,
    [stepUuid],
  );
  return row
    ? { msgId: row.msg_id, readCt: row.read_ct, invisibleForS: row.invisible_for_s }
    : undefined;
}

/** Waits until `condition` holds for the step's ledger; returns that ledger. */
export function stepEventually(
  client: SqlClient,
  taskUuid: string,
  condition: (step: StepLedger) => boolean,
  what: string,
  timeoutMs = 120_000,
): Promise<StepLedger> {
  return eventually(
    async () => {
      const step = await onlyStep(client, taskUuid);
      return condition(step) ? step : undefined;
    },
    what,
    timeoutMs,
  );
}
