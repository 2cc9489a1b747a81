/**
 * The broker's configuration: defaults, then an optional JSON config file,
 * then environment variables, then command-line flags (later wins). Every
 * value is checked by one zod schema, so a bad value is refused at start with
 * the field and what was expected. Database URLs come only from the
 * environment and are never printed.
 *
 * @module
 */
import { z } from "zod";
import { WasmBrokerError } from "../errors.ts";
import { formatPath } from "../manifest/format_issues.ts";

/** Namespaces are Tasker's: `[A-Za-z0-9_]`, at most 29 characters. */
const Namespace = z.string().regex(/^[A-Za-z0-9_]{1,29}$/, {
  message: "expected 1-29 characters of [A-Za-z0-9_] (Tasker's namespace rule)",
});

const GuestName = z.string().regex(/^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$/, {
  message: "expected a guest name such as catalog.http_request",
});

/** The config file and the merged configuration share this schema. */
export const BrokerConfigSchema = z.strictObject({
  /** Task namespaces served: one queue `worker_<ns>_queue` each. */
  namespaces: z.array(Namespace).min(1).max(32).default(() => ["catalog"]),
  /**
   * Steps claimed or running at once (the dispatch semaphore); up to as many
   * more may be writing their results (see broker.ts).
   */
  concurrency: z.int().min(1).max(256).default(4),
  /** Sandbox processes kept warm at start. */
  prewarm_sandboxes: z.int().min(0).max(64).default(1),
  /** Most sandbox processes alive at once. Default: the concurrency. */
  max_sandboxes: z.int().min(1).max(256).optional(),
  /** Messages read per `pgmq.read` (never more than free slots). */
  batch_size: z.int().min(1).max(1000).default(20),
  /** Visibility timeout of a read, seconds; extended while a step waits for its claim. */
  visibility_timeout_seconds: z.int().min(1).max(3600).default(30),
  /** Fallback poll interval (NOTIFY is best effort), milliseconds. */
  poll_interval_ms: z.int().min(10).max(60_000).default(1000),
  /** How long shutdown waits for running steps before handing them back, milliseconds. */
  shutdown_grace_ms: z.int().min(0).max(600_000).default(30_000),
  /** Admin HTTP (health, metrics, handlers). */
  admin: z.strictObject({
    hostname: z.string().min(1).default("127.0.0.1"),
    port: z.int().min(0).max(65535).default(8081),
  }).default(() => ({ hostname: "127.0.0.1", port: 8081 })),
  /** Registry directory. Default `<data dir>/registry`. */
  registry_dir: z.string().min(1).optional(),
  /** Data directory (registry, embedded database). Default `WASM_BROKER_DATA_DIR` or `./data`. */
  data_dir: z.string().min(1).optional(),
  /** This worker's id in transitions and results. Default: a random UUID per start. */
  worker_id: z.uuid().optional(),
  /**
   * How this worker's sessions compress the large values they write (step
   * results): `lz4` when a session asking for it at start works (PostgreSQL
   * 14+ built with lz4, no pooler refusing the parameter; less CPU than the
   * default `pglz`), else the server's default; `server_default` leaves the
   * server's setting. Real servers only (src/db/toast_compression.ts).
   */
  toast_compression: z.enum(["lz4", "server_default"]).default("lz4"),
  /** Build and publish the catalog at start when the registry lacks it. */
  publish_catalog: z.boolean().default(true),
  /**
   * Deployment manifests by guest name: they replace the manifest published with the
   * guest (e.g. to grant `catalog.http_request` the hosts it may call). Validated
   * against the capability plugins at start.
   */
  grants: z.record(GuestName, z.record(z.string(), z.unknown())).default(() => ({})),
});

/** The broker's configuration after defaults. */
export type BrokerConfig = z.infer<typeof BrokerConfigSchema>;

/** Secret-bearing settings, from the environment only. */
export interface DatabaseSettings {
  databaseUrl?: string;
  pgmqDatabaseUrl?: string;
}

/** Command-line values (already parsed by the CLI), all optional. */
export interface BrokerFlags {
  config?: string;
  namespace?: string[];
  concurrency?: string;
  "admin-port"?: string;
  "admin-host"?: string;
  registry?: string;
  "poll-interval-ms"?: string;
  "visibility-timeout-s"?: string;
  "batch-size"?: string;
  "worker-id"?: string;
  "no-catalog-publish"?: boolean;
}

/** Options for {@link loadBrokerConfig}. */
export interface LoadBrokerConfigOptions {
  /** Reads an environment variable. Default `Deno.env.get`. */
  env?: (name: string) => string | undefined;
  /** Reads the config file. Default `Deno.readTextFile`. */
  readTextFile?: (path: string) => Promise<string>;
}

function intOrText(value: string | undefined): number | string | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : value;
}

function setIfDefined(target: Record<string, unknown>, key: string, value: unknown): void {
  if (value !== undefined) target[key] = value;
}

async function readConfigFile(
  path: string,
  readTextFile: (path: string) => Promise<string>,
): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readTextFile(path);
  } catch (error) {
    throw new WasmBrokerError(
      "config_invalid",
      `Cannot read broker config ${path} as ${(error as Error).message}`,
      { details: { path } },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new WasmBrokerError(
      "config_invalid",
      `Cannot parse broker config ${path} as it is not JSON: ${(error as Error).message}`,
      { details: { path } },
    );
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new WasmBrokerError(
      "config_invalid",
      `Cannot use broker config ${path} as it must be a JSON object`,
      { details: { path } },
    );
  }
  return value as Record<string, unknown>;
}

/**
 * Merges defaults, the config file (`--config` or `WASM_BROKER_CONFIG`),
 * environment and flags, and validates the result. Throws `config_invalid`
 * naming every bad field.
 *
 * @example
 * ```ts
 * import { loadBrokerConfig } from "./broker_config.ts";
 * const { config } = await loadBrokerConfig({ concurrency: "8" }, { env: () => undefined });
 * console.assert(config.concurrency === 8 && config.namespaces[0] === "catalog");
 * ```
 */
export async function loadBrokerConfig(
  flags: BrokerFlags = {},
  options: LoadBrokerConfigOptions = {},
): Promise<{ config: BrokerConfig; database: DatabaseSettings; source?: string }> {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const source = flags.config ?? env("WASM_BROKER_CONFIG");
  const merged: Record<string, unknown> = source
    ? await readConfigFile(source, options.readTextFile ?? Deno.readTextFile)
    : {};

  const namespaces = flags.namespace?.length
    ? flags.namespace
    : env("WASM_BROKER_NAMESPACES")?.split(",").map((s) => s.trim()).filter(Boolean);
  setIfDefined(merged, "namespaces", namespaces?.length ? namespaces : undefined);
  setIfDefined(
    merged,
    "concurrency",
    intOrText(flags.concurrency ?? env("WASM_BROKER_CONCURRENCY")),
  );
  setIfDefined(merged, "batch_size", intOrText(flags["batch-size"]));
  setIfDefined(merged, "poll_interval_ms", intOrText(flags["poll-interval-ms"]));
  setIfDefined(merged, "visibility_timeout_seconds", intOrText(flags["visibility-timeout-s"]));
  setIfDefined(merged, "registry_dir", flags.registry);
  setIfDefined(merged, "data_dir", env("WASM_BROKER_DATA_DIR") || undefined);
  setIfDefined(merged, "worker_id", flags["worker-id"]);
  setIfDefined(merged, "toast_compression", env("WASM_BROKER_TOAST_COMPRESSION") || undefined);
  if (flags["no-catalog-publish"]) merged.publish_catalog = false;
  const port = intOrText(flags["admin-port"] ?? env("WASM_BROKER_ADMIN_PORT"));
  const hostname = flags["admin-host"] ?? env("WASM_BROKER_ADMIN_HOST");
  if (port !== undefined || hostname !== undefined) {
    const admin = { ...(merged.admin as Record<string, unknown> | undefined) };
    setIfDefined(admin, "port", port);
    setIfDefined(admin, "hostname", hostname);
    merged.admin = admin;
  }

  const parsed = BrokerConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const where = source ? ` (config file ${source}, environment and flags)` : "";
    throw new WasmBrokerError(
      "config_invalid",
      `Cannot start the broker as its configuration is invalid${where}:\n${
        parsed.error.issues.map((i) => `  - ${formatPath(i.path)}: ${i.message}`).join("\n")
      }`,
      {
        details: { issues: parsed.error.issues.map((i) => ({ path: i.path, message: i.message })) },
      },
    );
  }
  return {
    config: parsed.data,
    database: {
      databaseUrl: env("DATABASE_URL") || undefined,
      pgmqDatabaseUrl: env("PGMQ_DATABASE_URL") || undefined,
    },
    source,
  };
}
