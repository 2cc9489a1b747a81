/**
 * The one behaviour suite every {@link SqlClient} implementation passes
 * (postgres.js against a real server, PGlite in process, postgres.js against
 * the embedded socket server). Each implementation's test file calls
 * {@link sqlClientConformance} with a way to get a fresh database.
 *
 * @module
 */
import assert from "node:assert/strict";
import { isUniqueViolation, sqlState } from "../../src/db/sql_client.ts";
import type { SqlClient } from "../../src/db/sql_client.ts";

/** A database the suite may create tables in; `close()` disposes of it. */
export interface ConformanceTarget {
  client: SqlClient;
  close(): Promise<void>;
}

/** Options for {@link sqlClientConformance}. */
export interface ConformanceOptions {
  /** Skip the suite (with the reason in its name). */
  ignore?: boolean;
  /** Whether `pgmq` is installed in the target (the pgmq cases run only then). */
  pgmq?: boolean;
}

/** Waits until `check()` is true, polling; fails after `timeoutMs` (generous: shared machine). */
export async function waitFor(
  check: () => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Registers the conformance suite as one `Deno.test` named after `name`.
 *
 * @example
 * ```ts ignore
 * sqlClientConformance("PgliteClient", async () => { const db = await startTestDatabase({ kind: "pglite" }); return db; });
 * ```
 */
export function sqlClientConformance(
  name: string,
  open: () => Promise<ConformanceTarget>,
  options: ConformanceOptions = {},
): void {
  Deno.test({
    name: `${name} conforms to the SqlClient contract`,
    ignore: options.ignore,
    // postgres.js keeps timers for reconnect backoff; they end with close().
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const target = await open();
      const db = target.client;
      try {
        await t.step(
          "returns rows with jsonb parsed, int8 as number, uuid as string, timestamptz as Date",
          async () => {
            const [row] = await db.query<Record<string, unknown>>(
              `SELECT 9007199254740991::int8 AS big, 42::int8 AS small, 7::int4 AS i, 'x'::text AS t, true AS b,
                    'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid AS u, '2024-01-02T03:04:05Z'::timestamptz AS ts,
                    '{"a":[1,"x",null],"b":{"c":true}}'::jsonb AS jb, '[1,2]'::json AS j, NULL::text AS n`,
            );
            assert.equal(row.big, 9007199254740991);
            assert.equal(row.small, 42);
            assert.equal(row.i, 7);
            assert.equal(row.t, "x");
            assert.equal(row.b, true);
            assert.equal(row.u, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
            assert.ok(row.ts instanceof Date);
            assert.equal((row.ts as Date).toISOString(), "2024-01-02T03:04:05.000Z");
            assert.deepEqual(row.jb, { a: [1, "x", null], b: { c: true } });
            assert.deepEqual(row.j, [1, 2]);
            assert.equal(row.n, null);
          },
        );

        await t.step(
          "takes JSON parameters as text cast to jsonb (no double encoding)",
          async () => {
            const value = {
              s: 'quote " and \\ backslash',
              n: 1.5,
              list: [1, { x: "y" }],
              empty: {},
            };
            const [row] = await db.query<{ j: unknown; kind: string }>(
              "SELECT $1::jsonb AS j, jsonb_typeof($1::jsonb) AS kind",
              [JSON.stringify(value)],
            );
            assert.deepEqual(row.j, value);
            assert.equal(row.kind, "object");
            const [str] = await db.query<{ j: unknown }>("SELECT $1::jsonb AS j", [
              JSON.stringify("text"),
            ]);
            assert.equal(str.j, "text");
          },
        );

        await t.step("binds numbers, strings, booleans, null and int8 parameters", async () => {
          const [row] = await db.query<Record<string, unknown>>(
            "SELECT $1::int AS a, $2::text AS b, $3::bool AS c, $4::text IS NULL AS d, $5::int8 + 1 AS e",
            [3, "hello", false, null, 1_000_000_000_000],
          );
          assert.deepEqual(row, { a: 3, b: "hello", c: false, d: true, e: 1_000_000_000_001 });
        });

        await t.step(
          "runs a script of several statements without parameters, returning the last rows",
          async () => {
            const rows = await db.query<{ n: number }>(
              "CREATE TABLE conf_script (n int); INSERT INTO conf_script VALUES (1), (2); SELECT n FROM conf_script ORDER BY n",
            );
            assert.deepEqual(rows.map((r) => r.n), [1, 2]);
            assert.deepEqual(await db.query("SELECT 1 AS x WHERE false"), []);
          },
        );

        await t.step("commits a transaction that resolves and returns its value", async () => {
          await db.query("CREATE TABLE conf_tx (id int PRIMARY KEY, note text)");
          const result = await db.transaction(async (tx) => {
            await tx.query("INSERT INTO conf_tx VALUES ($1, $2)", [1, "one"]);
            const [row] = await tx.query<{ c: number }>("SELECT count(*)::int8 AS c FROM conf_tx");
            return row.c;
          });
          assert.equal(result, 1);
          assert.deepEqual(await db.query("SELECT id, note FROM conf_tx"), [{
            id: 1,
            note: "one",
          }]);
        });

        await t.step(
          "rolls back a transaction that rejects and passes the rejection on",
          async () => {
            const failure = new Error("boom");
            await assert.rejects(
              db.transaction(async (tx) => {
                await tx.query("INSERT INTO conf_tx VALUES ($1, $2)", [2, "two"]);
                throw failure;
              }),
              (error) => error === failure,
            );
            assert.deepEqual(await db.query("SELECT id FROM conf_tx ORDER BY id"), [{ id: 1 }]);
          },
        );

        await t.step(
          "reports a unique violation with SQLSTATE 23505, in and out of transactions",
          async () => {
            const outside = await db.query("INSERT INTO conf_tx VALUES (1, 'dup')").then(
              () => undefined,
              (e) => e,
            );
            assert.ok(outside, "the duplicate insert must fail");
            assert.equal(sqlState(outside), "23505");
            assert.ok(isUniqueViolation(outside));
            const inside = await db.transaction(async (tx) => {
              await tx.query("INSERT INTO conf_tx VALUES (3, 'three')");
              await tx.query("INSERT INTO conf_tx VALUES (1, 'dup')");
            }).then(() => undefined, (e) => e);
            assert.ok(isUniqueViolation(inside));
            // The whole transaction rolled back, row 3 included.
            assert.deepEqual(await db.query("SELECT id FROM conf_tx ORDER BY id"), [{ id: 1 }]);
            const syntax = await db.query("SELEC 1").then(() => undefined, (e) => e);
            assert.equal(sqlState(syntax), "42601");
            assert.equal(isUniqueViolation(syntax), false);
          },
        );

        await t.step(
          "runs concurrent queries and transactions without mixing them up",
          async () => {
            await db.query("CREATE TABLE conf_counter (id int PRIMARY KEY, n int NOT NULL)");
            await db.query("INSERT INTO conf_counter VALUES (1, 0)");
            const work = Array.from(
              { length: 20 },
              (_, i) =>
                i % 2 === 0
                  ? db.transaction(async (tx) => {
                    const [row] = await tx.query<{ n: number }>(
                      "SELECT n FROM conf_counter WHERE id = 1 FOR UPDATE",
                    );
                    await tx.query("UPDATE conf_counter SET n = $1 WHERE id = 1", [row.n + 1]);
                  })
                  : db.query<{ v: number }>("SELECT $1::int AS v", [i]).then(([r]) =>
                    assert.equal(r.v, i)
                  ),
            );
            await Promise.all(work);
            const [row] = await db.query<{ n: number }>("SELECT n FROM conf_counter WHERE id = 1");
            assert.equal(row.n, 10);
          },
        );

        await t.step(
          "delivers notifications on channels with dots, only after commit, until unlistened",
          async () => {
            const channel = "pgmq_message_ready.catalog";
            const other = 'odd "quoted" channel';
            const got: string[] = [];
            const gotOther: string[] = [];
            const stop = await db.listen(channel, (payload) => got.push(payload));
            const stopOther = await db.listen(other, (payload) => gotOther.push(payload));
            await db.query("SELECT pg_notify($1, $2)", [channel, "first"]);
            await waitFor(() => got.length === 1, "the first notification");
            assert.deepEqual(got, ["first"]);

            let notifiedInside = false;
            await db.transaction(async (tx) => {
              await tx.query("SELECT pg_notify($1, $2)", [channel, "in-tx"]);
              await new Promise((r) => setTimeout(r, 50));
              notifiedInside = got.length > 1;
            });
            assert.equal(
              notifiedInside,
              false,
              "a notification must not arrive before its transaction commits",
            );
            await waitFor(() => got.length === 2, "the committed notification");
            await db.transaction(async (tx) => {
              await tx.query("SELECT pg_notify($1, $2)", [channel, "rolled-back"]);
              throw new Error("roll back");
            }).catch(() => {});
            await db.query("SELECT pg_notify($1, $2)", [other, "o"]);
            await waitFor(() => gotOther.length === 1, "the notification on the quoted channel");
            assert.deepEqual(
              got,
              ["first", "in-tx"],
              "a rolled-back notification is never delivered",
            );

            await stop();
            await db.query("SELECT pg_notify($1, $2)", [channel, "after-stop"]);
            await db.query("SELECT pg_notify($1, $2)", [other, "o2"]);
            await waitFor(() => gotOther.length === 2, "the second quoted notification");
            assert.deepEqual(got, ["first", "in-tx"], "nothing arrives after unlisten");
            await stopOther();
          },
        );

        await t.step("delivers to several listeners of one channel independently", async () => {
          const a: string[] = [];
          const b: string[] = [];
          const stopA = await db.listen("conf.shared", (p) => a.push(p));
          const stopB = await db.listen("conf.shared", (p) => b.push(p));
          await db.query("SELECT pg_notify('conf.shared', 'x')");
          await waitFor(() => a.length === 1 && b.length === 1, "both listeners");
          await stopA();
          await db.query("SELECT pg_notify('conf.shared', 'y')");
          await waitFor(() => b.length === 2, "the remaining listener");
          assert.deepEqual(a, ["x"]);
          await stopB();
        });

        if (options.pgmq) {
          await t.step(
            "sends and reads pgmq messages with int8 msg_id as number and jsonb bodies",
            async () => {
              await db.query("SELECT pgmq.create($1)", ["conf_queue"]);
              const [sent] = await db.query<{ id: number }>(
                "SELECT pgmq.send($1, $2::jsonb) AS id",
                [
                  "conf_queue",
                  JSON.stringify({ task_uuid: "t", step_uuid: "s" }),
                ],
              );
              assert.equal(typeof sent.id, "number");
              const read = await db.query<{ msg_id: number; read_ct: number; message: unknown }>(
                "SELECT msg_id, read_ct, message FROM pgmq.read($1, $2, $3)",
                ["conf_queue", 30, 5],
              );
              assert.deepEqual(read, [{
                msg_id: sent.id,
                read_ct: 1,
                message: { task_uuid: "t", step_uuid: "s" },
              }]);
              // Invisible while the visibility timeout runs.
              assert.deepEqual(
                await db.query("SELECT * FROM pgmq.read($1, $2, $3)", ["conf_queue", 30, 5]),
                [],
              );
              const [archived] = await db.query<{ ok: boolean }>(
                "SELECT pgmq.archive($1, $2::bigint) AS ok",
                [
                  "conf_queue",
                  sent.id,
                ],
              );
              assert.equal(archived.ok, true);
            },
          );
        }

        await t.step("rejects queries after close", async () => {
          await db.close();
          await assert.rejects(db.query("SELECT 1"));
        });
      } finally {
        await target.close();
      }
    },
  });
}
