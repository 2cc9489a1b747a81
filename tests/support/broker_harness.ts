/**
 * Brokers for integration tests: a registry with the catalog published
 * (built once per catalog build, keyed by `catalog/digests.json`), an
 * in-process {@link Broker} over a test database, and `deno task broker`
 * as a real subprocess.
 *
 * @module
 */
import { join } from "node:path";
import { Broker, type BrokerSettings } from "../../src/broker/broker.ts";
import {
  type BrokerObserver,
  NOOP_OBSERVER,
  type StepScope,
} from "../../src/broker/broker_observer.ts";
import { HandlerResolver } from "../../src/broker/handler_resolver.ts";
import { publishCatalog } from "../../src/broker/publish_catalog.ts";
import { CATALOG_DIR } from "../../src/build/catalog_build.ts";
import { createRuntime, type CreateRuntimeOptions } from "../../src/create_runtime.ts";
import type { SqlClient } from "../../src/db/sql_client.ts";
import { FileRegistry } from "../../src/registry/file_registry.ts";
import { sha256Hex } from "../../src/runtime/runtime.ts";

const REPO = new URL("../../", import.meta.url).pathname;

let catalogRegistry: Promise<string> | undefined;

/**
 * A registry directory holding this checkout's catalog. Reused across test
 * processes while `catalog/digests.json` (which pins every module) is
 * unchanged; copy it with {@link copyRegistry} before publishing more.
 */
export function catalogRegistryDir(): Promise<string> {
  catalogRegistry ??= (async () => {
    const digests = await Deno.readFile(join(CATALOG_DIR, "digests.json"));
    const dir = join(REPO, "data", "test-registry", (await sha256Hex(digests)).slice(0, 16));
    await publishCatalog(new FileRegistry(dir));
    return dir;
  })();
  return catalogRegistry;
}

/** A private copy of the catalog registry (tests publish their own guests into it). */
export async function copyRegistry(): Promise<string> {
  const source = await catalogRegistryDir();
  const target = await Deno.makeTempDir({ prefix: "wb-registry-" });
  const cp = new Deno.Command("cp", { args: ["-a", `${source}/.`, target] });
  const { success, stderr } = await cp.output();
  if (!success) throw new Error(`cp failed: ${new TextDecoder().decode(stderr)}`);
  return target;
}

/** Events an observer saw, for assertions. */
export interface RecordedEvents {
  poison: { reason: string; detail: string }[];
  notServed: string[];
  unavailable: { callable: string; code: string }[];
  claimed: string[];
  lostClaims: string[];
  reported: { stepName: string; status: string }[];
  skipped: string[];
  /** Steps whose results message was never sent (queues in another database). */
  messagesNotSent: string[];
  databaseErrors: string[];
  /** Where each internal error happened (the observer's `where`, a log code) and the error. */
  internalErrors: { where: string; error: unknown }[];
  /** Each step that ran, with its timed host calls (undefined when none were timed). */
  ran: { stepName: string; timedCalls: number | undefined }[];
}

/** `client` as the broker's Tasker client, its queries going through `query` first. */
export function interceptQueries(client: SqlClient, query: SqlClient["query"]): SqlClient {
  return {
    kind: client.kind,
    query,
    transaction: (fn) => client.transaction(fn),
    listen: (channel, onNotify) => client.listen(channel, onNotify),
    close: () => Promise.resolve(),
  };
}

/** Two catalog steps, the second on the first's result: `total`, then `label`. */
export const RESHAPE_TEMPLATE = {
  name: "reshape",
  namespace_name: "catalog",
  version: "1.0.0",
  steps: [
    {
      name: "total",
      handler: {
        callable: "catalog.transform",
        initialization: { filter: "{total: (.context.items | map(.price) | add)}" },
      },
    },
    {
      name: "label",
      dependencies: ["total"],
      handler: {
        callable: "catalog.transform@^1",
        initialization: { filter: '{label: "total=\\(.deps.total.total)"}' },
      },
    },
  ],
};

/** An observer that records what the loop reported. */
export function recordingObserver(
  options: { tracing?: boolean } = {},
): { observer: BrokerObserver; events: RecordedEvents } {
  const events: RecordedEvents = {
    poison: [],
    notServed: [],
    unavailable: [],
    claimed: [],
    lostClaims: [],
    reported: [],
    skipped: [],
    messagesNotSent: [],
    databaseErrors: [],
    internalErrors: [],
    ran: [],
  };
  const observer: BrokerObserver = {
    ...NOOP_OBSERVER,
    poison: (_q, _id, reason, detail) => events.poison.push({ reason, detail }),
    notServed: (_q, _id, callable) => events.notServed.push(callable),
    unavailable: (callable, code) => events.unavailable.push({ callable, code }),
    databaseError: (operation) => events.databaseErrors.push(operation),
    internalError: (where, error) => events.internalErrors.push({ where, error }),
    step(labels): StepScope {
      return {
        ...(options.tracing ? { tracing: true } : {}),
        phase: (_name, fn) => fn(),
        claimed: () => events.claimed.push(labels.stepUuid),
        lostClaim: (state) => events.lostClaims.push(state),
        ran: (outcome) =>
          events.ran.push({
            stepName: labels.stepName,
            timedCalls: outcome.host_call_log?.length,
          }),
        handedBack() {},
        reported: (result) =>
          events.reported.push({ stepName: labels.stepName, status: result.status }),
        reportFailed() {},
        reportSkipped: (state) => events.skipped.push(state),
        resultMessageNotSent: () => events.messagesNotSent.push(labels.stepUuid),
        end() {},
      };
    },
  };
  return { observer, events };
}

/** Options for {@link startInProcessBroker}. */
export interface InProcessBrokerOptions {
  registryDir?: string;
  settings?: Partial<BrokerSettings>;
  observer?: BrokerObserver;
  grants?: Record<string, unknown>;
  runtime?: CreateRuntimeOptions;
  /** The queue database, when not `client`. */
  queue?: SqlClient;
  /** How long a callable's resolution is reused (the resolver's default: 1 s). */
  resolveTtlMs?: number;
  /** The resolver class to use (a subclass that delays or counts look-ups, say). */
  Resolver?: typeof HandlerResolver;
}

/** A {@link Broker} in this process on `client`, sandboxed by default. */
export async function startInProcessBroker(
  client: SqlClient,
  options: InProcessBrokerOptions = {},
): Promise<Broker> {
  const registry = new FileRegistry(options.registryDir ?? await catalogRegistryDir());
  const runtime = createRuntime({ sandbox: { prewarm: 1 }, ...options.runtime });
  const resolver = new (options.Resolver ?? HandlerResolver)(registry, runtime, {
    grants: options.grants,
    resolveTtlMs: options.resolveTtlMs,
  });
  const broker = new Broker({
    tasker: client,
    queue: options.queue ?? client,
    runtime,
    resolver,
    observer: options.observer ?? NOOP_OBSERVER,
  }, {
    namespaces: ["catalog"],
    concurrency: 4,
    batchSize: 20,
    visibilityTimeoutSeconds: 30,
    pollIntervalMs: 200,
    shutdownGraceMs: 10_000,
    workerId: crypto.randomUUID(),
    ...options.settings,
  });
  await broker.start();
  return broker;
}

/** A `deno task broker` subprocess. */
export interface BrokerProcess {
  child: Deno.ChildProcess;
  /** The admin server's base URL, once the broker logged it. */
  adminUrl: Promise<string>;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  /** Resolves with the exit status. */
  exited: Promise<Deno.CommandStatus>;
  /** SIGKILL unless it has exited (test teardown); resolves once it has. */
  kill(): Promise<void>;
  /** Resolves when a log line matches. */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<
    Record<string, unknown>
  >;
}

/** Options for {@link spawnBroker}. */
export interface SpawnBrokerOptions {
  /** Environment on top of PATH/HOME/DENO_DIR (e.g. DATABASE_URL). */
  env?: Record<string, string>;
  args?: string[];
  /** Print the broker's log lines (debugging). */
  echo?: boolean;
}

/** Starts `src/cli/broker.ts` as a child process with admin port 0. */
export function spawnBroker(options: SpawnBrokerOptions = {}): BrokerProcess {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(REPO, "src/cli/broker.ts"),
      "--admin-port",
      "0",
      ...(options.args ?? []),
    ],
    cwd: REPO,
    env: { ...env, ...options.env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const logs: Record<string, unknown>[] = [];
  const waiters: {
    predicate: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  const onLine = (text: string) => {
    if (options.echo) console.error(`[broker ${child.pid}] ${text}`);
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text);
    } catch {
      line = { msg: text, raw: true };
    }
    logs.push(line);
    for (const w of [...waiters]) {
      if (w.predicate(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let buffer = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        onLine(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    }
    if (buffer) onLine(buffer);
  };
  const streams = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const exited = child.status.then(async (status) => {
    await streams.catch(() => {});
    return status;
  });
  const waitForLog = (
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs = 120_000,
  ) => {
    const found = logs.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`broker ${child.pid} logged no matching line within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        predicate,
        resolve: (l: Record<string, unknown>) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      waiters.push(waiter);
      exited.then(() => {
        if (waiters.includes(waiter)) {
          clearTimeout(timer);
          reject(new Error(`broker ${child.pid} exited before logging a matching line`));
        }
      });
    });
  };
  const adminUrl = waitForLog((l) => l.msg === "admin HTTP listening").then((l) => String(l.url));
  adminUrl.catch(() => {});
  const kill = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await exited;
  };
  return { child, adminUrl, logs, exited, waitForLog, kill };
}

/** Waits until the broker at `adminUrl` answers `/health/ready` with 200. */
export async function waitUntilReady(adminUrl: string, what: string): Promise<void> {
  await eventually(
    async () => {
      const response = await fetch(`${adminUrl}/health/ready`);
      await response.body?.cancel();
      return response.status === 200 || undefined;
    },
    what,
    120_000,
  );
}

/** Polls `fn` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
}
