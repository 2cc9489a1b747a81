/**
 * {@link SqlClient} over npm `postgres` (postgres.js), for a real PostgreSQL
 * server (`DATABASE_URL`) or the embedded database's socket.
 *
 * Connection loss is survivable: postgres.js reconnects lazily, so while the
 * server is down queries fail (with a {@link DatabaseError} coded
 * `database_unavailable`, or the server's own SQLSTATE `57P01` for a
 * statement cut off by a shutdown) and succeed again once it is back, with
 * no restart of this process.
 *
 * LISTENs are kept by this module on one dedicated connection rather than by
 * postgres.js's `sql.listen`. postgres.js does re-LISTEN after a reconnect
 * (checked: after restarts and refused reconnects), but a `listen()` that
 * fails once (server down, database refusing connections) leaves a rejected
 * promise behind for that channel, and every later `listen()` on the same
 * channel fails with it for the life of the client. Here a failed
 * {@link PostgresClient.listen} leaves nothing behind, and after a lost
 * connection a supervisor re-LISTENs every channel, retrying with backoff
 * until it succeeds or the client closes. Notifications sent while the
 * connection was down are lost, as with any LISTEN: callers keep a fallback
 * poller.
 *
 * @module
 */
import postgres from "postgres";
import { DatabaseError } from "./database_error.ts";
import { defaultSocketHost, postgresTarget } from "./postgres_url.ts";
import { quoteIdentifier } from "./quote_identifier.ts";
import type { SqlClient, SqlExecutor } from "./sql_client.ts";

/** Options for {@link connectPostgres}. */
export interface ConnectPostgresOptions {
  /** Pool size. Defaults to 10. */
  max?: number;
  /** Seconds to wait for a connection before a query fails `database_unavailable`. Defaults to 10. */
  connectTimeoutSeconds?: number;
  /** `application_name` shown in `pg_stat_activity`. Defaults to `"wasm-broker"`. */
  applicationName?: string;
  /**
   * Whether parameterized statements are prepared (named) and reused per
   * connection. Defaults to `true` (faster for the broker's repeated
   * statements); `false` uses the unnamed statement every time.
   */
  prepare?: boolean;
  /**
   * Settings every session of the pool starts with (sent with the
   * connection's startup message, e.g. `default_toast_compression`). A value
   * the server refuses fails every connection: check first.
   */
  settings?: Readonly<Record<string, string>>;
}

// deno-lint-ignore no-explicit-any
type Sql = postgres.Sql<any>;
// deno-lint-ignore no-explicit-any
type Options = postgres.Options<any>;

/** postgres.js error codes that mean "no usable connection", not "the statement failed". */
const CONNECTION_ERROR_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ENOTFOUND",
  "ENOENT", // no socket file at ?host=<directory>
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "NotConnected",
  "ConnectionRefused",
  "ConnectionReset",
  "BrokenPipe",
]);

/** int8 as a JS number (pgmq's `msg_id`, counts); postgres.js returns strings by default. */
const INT8_AS_NUMBER = {
  to: 20,
  from: [20],
  serialize: (x: unknown) => String(x),
  parse: (x: string) => Number(x),
};

/**
 * json/jsonb parameters: text passes through unchanged (the contract: callers
 * send `JSON.stringify(v)` and cast `$1::jsonb`); postgres.js would
 * otherwise JSON-encode the text a second time, storing a JSON string.
 * Other values are stringified, as PGlite does.
 */
const JSON_TEXT = {
  to: 3802,
  from: [114, 3802],
  serialize: (x: unknown) => typeof x === "string" ? x : JSON.stringify(x),
  parse: (x: string) => JSON.parse(x),
};

/**
 * Connects to PostgreSQL at `url` (lazily: the first query opens the first
 * connection, so this never throws for an unreachable server).
 *
 * @example
 * ```ts ignore
 * import { connectPostgres } from "./postgres_client.ts";
 * const db = connectPostgres("postgres://postgres@127.0.0.1:5432/test");
 * const [row] = await db.query<{ n: number }>("SELECT $1::int8 AS n", [42]);
 * console.assert(row.n === 42);
 * await db.close();
 * ```
 */
export function connectPostgres(url: string, options: ConnectPostgresOptions = {}): PostgresClient {
  return new PostgresClient(url, options);
}

/**
 * Seconds before reconnect attempt `n`: 50 ms doubling, at most 1 s.
 *
 * @example
 * ```ts
 * import { reconnectBackoffSeconds } from "./postgres_client.ts";
 * console.assert(reconnectBackoffSeconds(0) === 0.05 && reconnectBackoffSeconds(30) === 1);
 * ```
 */
export function reconnectBackoffSeconds(attempt: number): number {
  return Math.min(0.05 * 2 ** Math.max(0, attempt), 1);
}

/** The postgres.js implementation of {@link SqlClient}; build one with {@link connectPostgres}. */
export class PostgresClient implements SqlClient {
  readonly kind = "postgres" as const;
  readonly #url: string;
  readonly #options: Options;
  readonly #prepare: boolean;
  readonly #sql: Sql;
  #listener: PostgresListener | undefined;
  #closing: Promise<void> | undefined;

  constructor(url: string, options: ConnectPostgresOptions = {}) {
    if (options.max !== undefined && (!Number.isInteger(options.max) || options.max < 1)) {
      throw new RangeError(
        `Cannot connect as max must be a positive integer: current value is ${options.max}`,
      );
    }
    const target = postgresTarget(url);
    const host = target.host ?? defaultSocketHost(url);
    this.#url = target.url;
    this.#prepare = options.prepare ?? true;
    this.#options = {
      // libpq's ?host=<socket directory> and ?port=, and the local socket of a URL that names
      // no host (postgres_url.ts).
      ...(host === undefined ? {} : { host }),
      ...(target.port === undefined ? {} : { port: target.port }),
      max: options.max ?? 10,
      connect_timeout: options.connectTimeoutSeconds ?? 10,
      connection: {
        ...options.settings,
        application_name: options.applicationName ?? "wasm-broker",
      },
      // Notices (e.g. "relation already exists, skipping") are not errors; postgres.js logs them by default.
      onnotice: () => {},
      types: { int8: INT8_AS_NUMBER, json: JSON_TEXT },
      // Type OIDs are fetched per connection; the broker never sends arrays of custom types.
      fetch_types: false,
      // postgres.js's default backoff grows with failures across the whole pool, up to 20 s
      // per attempt: after an outage the broker would stay disconnected (and its LISTEN down)
      // long after the server is back. Cap it at 1 s.
      backoff: reconnectBackoffSeconds,
    };
    this.#sql = postgres(this.#url, this.#options);
  }

  async query<Row = Record<string, unknown>>(
    text: string,
    params: readonly unknown[] = [],
  ): Promise<Row[]> {
    return await runQuery<Row>(this.#sql, text, params, this.#prepare);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    try {
      return await this.#sql.begin(async (tx) => {
        const executor: SqlExecutor = {
          query: <Row>(text: string, params: readonly unknown[] = []) =>
            runQuery<Row>(tx as unknown as Sql, text, params, this.#prepare),
        };
        return await fn(executor);
      }) as T;
    } catch (error) {
      throw toClientError(error);
    }
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    if (this.#closing) throw closedError();
    this.#listener ??= new PostgresListener(this.#url, this.#options);
    return await this.#listener.listen(channel, onNotify);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#listener?.close();
      await this.#sql.end({ timeout: 5 });
    })();
    return this.#closing;
  }
}

async function runQuery<Row>(
  sql: Sql,
  text: string,
  params: readonly unknown[],
  prepare: boolean,
): Promise<Row[]> {
  try {
    // Without parameters: the simple protocol, so a script of several statements runs too.
    const result = params.length === 0
      ? await sql.unsafe(text)
      : await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare });
    const rows = result as unknown as unknown[];
    // A multi-statement script yields one result per statement: return the last one's rows.
    if (params.length === 0 && rows.length > 0 && Array.isArray(rows[0])) {
      return [...(rows[rows.length - 1] as Row[])];
    }
    return [...(rows as Row[])];
  } catch (error) {
    throw toClientError(error);
  }
}

/** Connection-level failures become `database_unavailable`; statement errors keep their SQLSTATE. */
function toClientError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && CONNECTION_ERROR_CODES.has(code)) {
    return new DatabaseError(
      "database_unavailable",
      `Cannot reach the database as the connection failed: ${code}`,
      { retryable: true, details: { reason: code }, cause: error },
    );
  }
  return error;
}

function closedError(): DatabaseError {
  return new DatabaseError("database_unavailable", "Cannot listen as the client is closed", {
    details: { reason: "CLIENT_CLOSED" },
  });
}

/**
 * Keeps LISTENs alive on one dedicated connection: after the connection
 * closes it re-issues every LISTEN, retrying with backoff until the server is
 * back or the client closes.
 */
class PostgresListener {
  readonly #sql: Sql;
  readonly #channels = new Map<string, Set<(payload: string) => void>>();
  /** Channels LISTENed on the current connection. */
  readonly #active = new Set<string>();
  #resubscribing: Promise<void> | undefined;
  #closed = false;
  #wake: (() => void) | undefined;

  constructor(url: string, options: Options) {
    this.#sql = postgres(url, {
      ...options,
      max: 1,
      max_lifetime: null,
      onnotify: (channel: string, payload: string) => {
        for (const callback of this.#channels.get(channel) ?? []) {
          try {
            callback(payload);
          } catch {
            // A throwing listener must not stop delivery to the others.
          }
        }
      },
      onclose: () => {
        this.#active.clear();
        if (!this.#closed && this.#channels.size > 0) this.#resubscribe();
      },
      // `onnotify` is what postgres.js's own listen() uses; its typings leave it out.
    } as Options);
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    let callbacks = this.#channels.get(channel);
    const added = !callbacks;
    if (!callbacks) this.#channels.set(channel, callbacks = new Set());
    const callback = (payload: string) => onNotify(payload);
    callbacks.add(callback);
    try {
      if (!this.#active.has(channel)) {
        await this.#sql.unsafe(`LISTEN ${quoteIdentifier(channel)}`);
        this.#active.add(channel);
      }
    } catch (error) {
      callbacks.delete(callback);
      if (added && callbacks.size === 0) this.#channels.delete(channel);
      throw toClientError(error);
    }
    let stopped = false;
    return async () => {
      if (stopped) return;
      stopped = true;
      const set = this.#channels.get(channel);
      set?.delete(callback);
      if (set && set.size === 0) {
        this.#channels.delete(channel);
        if (this.#active.delete(channel) && !this.#closed) {
          // Best effort: a lost connection forgets its LISTENs anyway.
          await this.#sql.unsafe(`UNLISTEN ${quoteIdentifier(channel)}`).catch(() => {});
        }
      }
    };
  }

  #resubscribe(): void {
    if (this.#resubscribing) return;
    this.#resubscribing = (async () => {
      let attempt = 0;
      while (!this.#closed) {
        const missing = [...this.#channels.keys()].filter((c) => !this.#active.has(c));
        if (missing.length === 0) break;
        try {
          for (const channel of missing) {
            if (this.#closed || !this.#channels.has(channel)) continue;
            await this.#sql.unsafe(`LISTEN ${quoteIdentifier(channel)}`);
            this.#active.add(channel);
          }
          attempt = 0;
        } catch {
          attempt++;
          const delayMs = Math.min(100 * 2 ** attempt, 2_000);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, delayMs);
            this.#wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.#wake = undefined;
        }
      }
    })().finally(() => {
      this.#resubscribing = undefined;
      // The connection may have dropped again while the last LISTEN ran.
      if (!this.#closed && [...this.#channels.keys()].some((c) => !this.#active.has(c))) {
        this.#resubscribe();
      }
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    await this.#sql.end({ timeout: 1 });
    await this.#resubscribing?.catch(() => {});
  }
}
