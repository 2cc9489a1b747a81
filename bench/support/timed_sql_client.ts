/**
 * A {@link SqlClient} wrapper that records every statement and transaction
 * the broker sends: what it was (classified by its SQL), which step it was
 * for, when it started and ended (this process's `performance.now()`), and
 * how many round trips it cost. The end-to-end bench builds its per-step
 * timelines and round-trip counts from these records.
 *
 * Statements are classified by the SQL texts of `src/tasker/` (`pgmq.read`,
 * the hydrate query, the claim and report transactions, `pgmq.archive`); a
 * text that matches none is `other`. Round trips: one per statement, plus
 * `BEGIN` and `COMMIT` for each transaction (postgres.js sends them as
 * statements of their own).
 *
 * @example
 * ```ts ignore
 * const timed = new TimedSqlClient(client);
 * await timed.query("SELECT 1");
 * console.log(timed.records.length, timed.roundTrips);
 * ```
 *
 * @module
 */
import type { SqlClient, SqlExecutor } from "../../src/db/sql_client.ts";

/** What a statement or transaction was for. */
export type SqlLabel =
  | "read"
  | "hydrate"
  | "read_claim"
  | "claim"
  | "archive"
  | "report"
  | "set_vt"
  | "create_queue"
  | "other";

/** One statement, or one whole transaction (`tx: true`). */
export interface SqlRecord {
  label: SqlLabel;
  /** The step's UUID when the statement names it (hydrate, claim, report). */
  stepUuid?: string;
  /** The steps of a batch hydration (`hydrateSteps`: a uuid[] literal). */
  stepUuids?: string[];
  /** pgmq message id (archive, set_vt). */
  msgId?: number;
  startMs: number;
  endMs: number;
  /** Round trips: 1 for a statement, statements + 2 for a transaction. */
  roundTrips: number;
  tx: boolean;
  ok: boolean;
  /** For `read`: the messages it returned, `{msgId, stepUuid}`. */
  messages?: { msgId: number; stepUuid?: string }[];
}

function classify(text: string): SqlLabel {
  // Claims set last_attempted_at (and may carry the ack, pgmq.archive);
  // reports send to the results queue (in one statement, or in the
  // transaction's second statement before they were one).
  // The idle path: a read, the hydration's dependency walk and a claim in one statement.
  if (text.includes("last_attempted_at") && text.includes("pgmq.read(")) return "read_claim";
  if (text.includes("last_attempted_at")) return "claim";
  // Every report statement (one step or a batch, with or without its results message)
  // clears in_process; nothing else the broker sends does.
  if (text.includes("SET in_process = false")) return "report";
  if (text.includes("pgmq.read(")) return "read";
  if (text.includes("get_step_transitive_dependencies")) return "hydrate";
  if (text.includes("pgmq.archive(")) return "archive";
  if (text.includes("pgmq.set_vt(")) return "set_vt";
  if (text.includes("pgmq.create(")) return "create_queue";
  return "other";
}

function isUuidText(value: unknown): value is string {
  return typeof value === "string" && /^[0-9a-f-]{36}$/i.test(value);
}

/** Records every statement; see the module doc. */
export class TimedSqlClient implements SqlClient {
  readonly kind: "postgres" | "pglite";
  readonly #inner: SqlClient;
  /** Every statement outside transactions and every transaction, in completion order. */
  readonly records: SqlRecord[] = [];
  /** Round trips so far. */
  roundTrips = 0;
  /** Whether to keep records (counts are always kept). */
  recording = true;

  constructor(inner: SqlClient) {
    this.#inner = inner;
    this.kind = inner.kind;
  }

  /** Forgets the records and counts (between phases of a bench). */
  reset(): void {
    this.records.length = 0;
    this.roundTrips = 0;
  }

  async query<Row = Record<string, unknown>>(
    text: string,
    params: readonly unknown[] = [],
  ): Promise<Row[]> {
    const label = classify(text);
    const startMs = performance.now();
    let ok = false;
    let rows: Row[] = [];
    try {
      rows = await this.#inner.query<Row>(text, params);
      ok = true;
      return rows;
    } finally {
      this.roundTrips++;
      if (this.recording) {
        const record: SqlRecord = {
          label,
          startMs,
          endMs: performance.now(),
          roundTrips: 1,
          tx: false,
          ok,
        };
        if (label === "hydrate" && isUuidText(params[1])) {
          record.stepUuid = params[1];
        }
        if (label === "hydrate" && typeof params[1] === "string" && params[1].startsWith("{")) {
          record.stepUuids = params[1].slice(1, -1).split(",").filter(isUuidText);
        }
        if ((label === "claim" || label === "report") && isUuidText(params[0])) {
          record.stepUuid = params[0];
        }
        if (
          (label === "claim" || label === "report") && typeof params[0] === "string" &&
          params[0].startsWith("[")
        ) {
          // A batch of claims or reports: a JSON array of {step_uuid, ...}.
          const rows = JSON.parse(params[0]) as { step_uuid?: unknown }[];
          record.stepUuids = rows.map((r) => r.step_uuid).filter(isUuidText);
        }
        if (label === "archive" || label === "set_vt") record.msgId = Number(params[1]);
        if (label === "read" || label === "read_claim") {
          record.messages = (rows as Record<string, unknown>[]).map((r) => {
            const body = r.message as Record<string, unknown> | null;
            const stepUuid = body && isUuidText(body.step_uuid) ? body.step_uuid : undefined;
            return { msgId: Number(r.msg_id), stepUuid };
          });
        }
        this.records.push(record);
      }
    }
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const startMs = performance.now();
    let label: SqlLabel = "other";
    let stepUuid: string | undefined;
    let statements = 0;
    let ok = false;
    try {
      const value = await this.#inner.transaction((tx) =>
        fn({
          query: <Row>(text: string, params: readonly unknown[] = []) => {
            statements++;
            const kind = classify(text);
            if (kind !== "other") label = kind;
            if (stepUuid === undefined && isUuidText(params[0])) stepUuid = params[0];
            return tx.query<Row>(text, params);
          },
        })
      );
      ok = true;
      return value;
    } finally {
      const roundTrips = statements + 2;
      this.roundTrips += roundTrips;
      if (this.recording) {
        this.records.push({
          label,
          stepUuid,
          startMs,
          endMs: performance.now(),
          roundTrips,
          tx: true,
          ok,
        });
      }
    }
  }

  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    return this.#inner.listen(channel, onNotify);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
