/**
 * {@link SqlClient} over an in-process PGlite (PostgreSQL compiled to
 * WebAssembly), for the embedded default and for tests without a server.
 *
 * Every statement and every transaction holds the instance's
 * {@link SessionGate} (see `pglite_session.ts`), which the embedded socket
 * server's connections hold too: an in-process transaction never sees a
 * socket client's statement in the middle, and an in-process statement never
 * runs inside a socket client's open `BEGIN`. One consequence: inside
 * {@link PgliteClient.transaction}, use the `tx` handle; calling the client
 * itself there waits for the transaction to end, i.e. forever.
 *
 * @module
 */
import type { PGlite, QueryOptions, Results } from "@electric-sql/pglite";
import type { SqlClient, SqlExecutor } from "./sql_client.ts";
import { type PgliteSession, pgliteSession } from "./pglite_session.ts";

/** Options for {@link createPgliteClient}. */
export interface PgliteClientOptions {
  /** Whether {@link PgliteClient.close} also closes the PGlite instance. Defaults to `false`. */
  closeDatabase?: boolean;
}

/** int8 as a JS number always (PGlite returns a BigInt beyond 2^53), as the postgres.js client does. */
const QUERY_OPTIONS: QueryOptions = { parsers: { 20: (value: string) => Number(value) } };

/**
 * Wraps a PGlite instance (already created and, for pgmq, started with the
 * `@electric-sql/pglite-pgmq` extension) as a {@link SqlClient}.
 *
 * @example
 * ```ts
 * import { PGlite } from "@electric-sql/pglite";
 * import { createPgliteClient } from "./pglite_client.ts";
 * const client = createPgliteClient(await PGlite.create(), { closeDatabase: true });
 * const [row] = await client.query<{ n: number }>("SELECT $1::int8 AS n", [7]);
 * console.assert(row.n === 7);
 * await client.close();
 * ```
 */
export function createPgliteClient(db: PGlite, options: PgliteClientOptions = {}): PgliteClient {
  return new PgliteClient(db, options);
}

/** The PGlite implementation of {@link SqlClient}; build one with {@link createPgliteClient}. */
export class PgliteClient implements SqlClient {
  readonly kind = "pglite" as const;
  readonly db: PGlite;
  readonly #session: PgliteSession;
  readonly #closeDatabase: boolean;
  readonly #stops = new Set<() => Promise<void>>();
  #closing: Promise<void> | undefined;

  constructor(db: PGlite, options: PgliteClientOptions = {}) {
    this.db = db;
    this.#session = pgliteSession(db);
    this.#closeDatabase = options.closeDatabase ?? false;
  }

  async query<Row = Record<string, unknown>>(
    text: string,
    params: readonly unknown[] = [],
  ): Promise<Row[]> {
    this.#checkOpen();
    return await this.#session.gate.run(() => run<Row>(this.db, text, params));
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    this.#checkOpen();
    return await this.#session.gate.run(() =>
      this.db.transaction(async (tx) => {
        const executor: SqlExecutor = {
          query: <Row>(text: string, params: readonly unknown[] = []) => run<Row>(tx, text, params),
        };
        return await fn(executor);
      })
    );
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    this.#checkOpen();
    const stop = await this.#session.listen(channel, onNotify);
    const tracked = async () => {
      this.#stops.delete(tracked);
      await stop();
    };
    this.#stops.add(tracked);
    return tracked;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      // Pending statements finish first: take our turn at the gate after them.
      await this.#session.gate.run(() => Promise.resolve());
      for (const stop of [...this.#stops]) await stop().catch(() => {});
      if (this.#closeDatabase && !this.db.closed) await this.db.close();
    })();
    return this.#closing;
  }

  #checkOpen(): void {
    if (this.#closing) throw new TypeError("Cannot use the PGlite client as it is closed");
  }
}

interface Runner {
  query<T>(text: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>>;
  exec(text: string, options?: QueryOptions): Promise<Results[]>;
}

async function run<Row>(db: Runner, text: string, params: readonly unknown[]): Promise<Row[]> {
  if (params.length === 0) {
    // The simple protocol, as postgres.js uses without parameters: scripts of several statements work.
    const results = await db.exec(text, QUERY_OPTIONS);
    return (results.at(-1)?.rows ?? []) as Row[];
  }
  const result = await db.query<Row>(text, [...params], QUERY_OPTIONS);
  return result.rows;
}
