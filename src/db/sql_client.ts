/**
 * The one database interface the broker, the Tasker adapter and the test
 * tooling talk to. Two implementations: postgres.js for a real server
 * (`postgres_client.ts`) and PGlite in this process for the embedded default
 * (`pglite_client.ts`). Queries use `$1, $2, ...` placeholders.
 *
 * What both implementations guarantee, so callers never check `kind`:
 * - `json`/`jsonb` columns come back parsed; pass JSON parameters as text
 *   (`JSON.stringify(v)`) and cast in SQL (`$1::jsonb`);
 * - `int8`/`bigint` columns (e.g. pgmq's `msg_id`) come back as JS numbers;
 * - `uuid` columns come back as lowercase strings, `timestamptz` as `Date`;
 * - a failed statement rejects with an error whose SQLSTATE
 *   {@link sqlState} reads (`"23505"` = unique violation).
 *
 * @module
 */

/** Runs statements; a {@link SqlClient} or the handle inside a transaction. */
export interface SqlExecutor {
  /** Runs one statement and returns its rows. */
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
}

/** A connection (pool) to one database. */
export interface SqlClient extends SqlExecutor {
  /** Which implementation this is, for logs and health output only. */
  readonly kind: "postgres" | "pglite";
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back
   * when it rejects (the rejection is passed on).
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * LISTENs on `channel` (any characters; quoted by the implementation) and
   * calls `onNotify` with each payload. Resolves once listening; the returned
   * function stops. Real servers re-LISTEN after a reconnect.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** Closes every connection; pending queries finish first. */
  close(): Promise<void>;
}

/** The SQLSTATE of a database error (`"23505"` = unique violation), if it has one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Whether `error` is one a single row of a multi-row statement can cause on
 * its own: a data exception (class 22, e.g. a string jsonb cannot hold), an
 * integrity violation (class 23: a unique index, a foreign key) or a deadlock
 * (40P01: a lock order another statement crossed). A statement failing so
 * may succeed for its other rows when they go one by one.
 */
export function isRowLevelError(error: unknown): boolean {
  const state = sqlState(error);
  return state !== undefined &&
    (state.startsWith("22") || state.startsWith("23") || state === "40P01");
}

/** Whether `error` is a unique violation (SQLSTATE 23505). */
export function isUniqueViolation(error: unknown): boolean {
  return sqlState(error) === "23505";
}
