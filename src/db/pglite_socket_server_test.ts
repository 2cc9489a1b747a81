import assert from "node:assert/strict";
import { PGlite } from "@electric-sql/pglite";
import { pgmq } from "@electric-sql/pglite-pgmq";
import { sqlClientConformance, waitFor } from "../../tests/support/sql_client_conformance.ts";
import { createPgliteClient, type PgliteClient } from "./pglite_client.ts";
import { type PgliteSocketServerOptions, startPgliteSocketServer } from "./pglite_socket_server.ts";
import { installPgmq } from "./pgmq_install.ts";
import { connectPostgres } from "./postgres_client.ts";

const leaky = { sanitizeOps: false, sanitizeResources: false };

async function withServer(
  fn: (
    ctx: {
      db: PGlite;
      client: PgliteClient;
      url: string;
      server: Awaited<ReturnType<typeof startPgliteSocketServer>>;
    },
  ) => Promise<void>,
  options: PgliteSocketServerOptions = {},
): Promise<void> {
  const db = await PGlite.create();
  const client = createPgliteClient(db, { closeDatabase: true });
  const server = await startPgliteSocketServer(db, options);
  try {
    await fn({ db, client, url: server.url(), server });
  } finally {
    await server.close();
    await client.close();
  }
}

for (const max of [1, 4]) {
  sqlClientConformance(`postgres.js (max ${max}) through the PGlite socket server`, async () => {
    const db = await PGlite.create({ extensions: { pgmq } });
    const inProcess = createPgliteClient(db, { closeDatabase: true });
    await installPgmq(inProcess);
    const server = await startPgliteSocketServer(db);
    const client = connectPostgres(server.url(), { max });
    return {
      client,
      close: async () => {
        await client.close();
        await server.close();
        await inProcess.close();
      },
    };
  }, { pgmq: true });
}

Deno.test({
  name: "a socket client's statement never lands inside an in-process transaction",
  ...leaky,
  fn: () =>
    withServer(async ({ client, url }) => {
      await client.query("CREATE TABLE t (who text)");
      const remote = connectPostgres(url, { max: 1 });
      try {
        let remoteInsert: Promise<unknown> | undefined;
        await assert.rejects(
          client.transaction(async (tx) => {
            await tx.query("INSERT INTO t VALUES ('in-process')");
            remoteInsert = remote.query("INSERT INTO t VALUES ($1)", ["socket"]);
            // Give the socket statement every chance to run now (it must not).
            await new Promise((r) => setTimeout(r, 150));
            const [row] = await tx.query<{ n: number }>(
              "SELECT count(*)::int AS n FROM t WHERE who = 'socket'",
            );
            assert.equal(row.n, 0, "the socket INSERT ran inside the in-process transaction");
            throw new Error("roll back");
          }),
          /roll back/,
        );
        await remoteInsert;
        assert.deepEqual(await client.query("SELECT who FROM t"), [{ who: "socket" }]);
      } finally {
        await remote.close();
      }
    }),
});

Deno.test({
  name: "an in-process statement never joins a socket client's open transaction",
  ...leaky,
  fn: () =>
    withServer(async ({ client, url }) => {
      await client.query("CREATE TABLE t (who text)");
      const remote = connectPostgres(url, { max: 1 });
      try {
        let local: Promise<unknown> | undefined;
        let localDone = false;
        await assert.rejects(
          remote.transaction(async (tx) => {
            await tx.query("INSERT INTO t VALUES ('socket-tx')");
            local = client.query("INSERT INTO t VALUES ('in-process')").then(() =>
              localDone = true
            );
            await new Promise((r) => setTimeout(r, 150));
            assert.equal(
              localDone,
              false,
              "the in-process statement must wait for the socket transaction",
            );
            const [row] = await tx.query<{ n: number }>("SELECT count(*)::int AS n FROM t");
            assert.equal(row.n, 1);
            throw new Error("roll back");
          }),
          /roll back/,
        );
        await local;
        assert.deepEqual(await client.query("SELECT who FROM t"), [{ who: "in-process" }]);
      } finally {
        await remote.close();
      }
    }),
});

Deno.test({
  name: "two socket clients' transactions do not interleave",
  ...leaky,
  fn: () =>
    withServer(async ({ client, url }) => {
      await client.query("CREATE TABLE t (who text)");
      const a = connectPostgres(url, { max: 1 });
      const b = connectPostgres(url, { max: 1 });
      try {
        let bInsert: Promise<unknown> | undefined;
        await assert.rejects(a.transaction(async (tx) => {
          await tx.query("INSERT INTO t VALUES ($1)", ["a"]);
          bInsert = b.query("INSERT INTO t VALUES ($1)", ["b"]);
          await new Promise((r) => setTimeout(r, 150));
          throw new Error("roll back a");
        }));
        await bInsert;
        assert.deepEqual(await client.query("SELECT who FROM t"), [{ who: "b" }]);
      } finally {
        await a.close();
        await b.close();
      }
    }),
});

Deno.test({
  name: "named prepared statements are per connection and deallocated when it ends",
  ...leaky,
  fn: () =>
    withServer(async ({ client, url }) => {
      const a = connectPostgres(url, { max: 1, prepare: true });
      const b = connectPostgres(url, { max: 1, prepare: true });
      try {
        for (let i = 0; i < 3; i++) {
          assert.deepEqual(await a.query("SELECT $1::int + 1 AS n", [i]), [{ n: i + 1 }]);
          assert.deepEqual(await b.query("SELECT $1::int + 2 AS n", [i]), [{ n: i + 2 }]);
        }
        const names = (await client.query<{ name: string }>(
          "SELECT name FROM pg_prepared_statements ORDER BY name",
        ))
          .map((r) => r.name);
        assert.equal(names.length, 2, `one statement per connection: ${names}`);
        assert.ok(names.every((n) => /^wb\d+_/.test(n)), `renamed per connection: ${names}`);
        assert.notEqual(names[0].split("_")[0], names[1].split("_")[0]);
      } finally {
        await a.close();
        await b.close();
      }
      let left = 2;
      const deadline = Date.now() + 10_000;
      while (left > 0 && Date.now() < deadline) {
        [{ n: left }] = await client.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_prepared_statements",
        );
        if (left > 0) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(left, 0, "statements of closed connections are deallocated");
    }),
});

/** A bare protocol-3 client: enough to leave a transaction open and vanish. */
async function rawClient(port: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const encoder = new TextEncoder();
  const cstr = (s: string) => [...encoder.encode(s), 0];
  const int32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  const params = [
    ...cstr("user"),
    ...cstr("postgres"),
    ...cstr("database"),
    ...cstr("postgres"),
    0,
  ];
  await conn.write(new Uint8Array([...int32(8 + params.length), ...int32(196608), ...params]));
  const received: number[] = [];
  const reading = (async () => {
    const buf = new Uint8Array(65536);
    while (true) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return;
      received.push(...buf.subarray(0, n));
    }
  })();
  const hasReady = (count: number) => {
    let seen = 0;
    for (let i = 0; i + 5 <= received.length;) {
      if (received[i] === 0x5a) seen++;
      i += 1 +
        ((received[i + 1] << 24) | (received[i + 2] << 16) | (received[i + 3] << 8) |
          received[i + 4]);
    }
    return seen >= count;
  };
  await waitFor(() => hasReady(1), "startup ReadyForQuery");
  let readies = 1;
  return {
    received,
    reading,
    async query(sql: string) {
      const body = cstr(sql);
      await conn.write(new Uint8Array([0x51, ...int32(4 + body.length), ...body]));
      readies++;
      await waitFor(() => hasReady(readies), `ReadyForQuery after ${sql}`);
    },
    close() {
      try {
        conn.close();
      } catch {
        // already closed by the server
      }
    },
  };
}

Deno.test({
  name:
    "a socket client that disconnects inside a transaction is rolled back and releases the session",
  ...leaky,
  fn: () =>
    withServer(async ({ client, server }) => {
      await client.query("CREATE TABLE t (who text)");
      const raw = await rawClient(server.port);
      await raw.query("BEGIN");
      await raw.query("INSERT INTO t VALUES ('abandoned')");
      const local = client.query("INSERT INTO t VALUES ('in-process')");
      raw.close();
      await local;
      assert.deepEqual(await client.query("SELECT who FROM t"), [{ who: "in-process" }]);
      await waitFor(() => server.connections === 0, "the connection to be gone");
    }),
});

Deno.test({
  name: "a socket client idle inside a transaction is rolled back and cut off after the timeout",
  ...leaky,
  fn: () =>
    withServer(async ({ client, server }) => {
      await client.query("CREATE TABLE t (who text)");
      const raw = await rawClient(server.port);
      await raw.query("BEGIN");
      await raw.query("INSERT INTO t VALUES ('idle')");
      // Blocked behind the idle transaction until the server gives up on it.
      await client.query("INSERT INTO t VALUES ('in-process')");
      assert.deepEqual(await client.query("SELECT who FROM t"), [{ who: "in-process" }]);
      await raw.reading;
      const text = new TextDecoder().decode(new Uint8Array(raw.received));
      assert.match(text, /25P03/);
      assert.match(text, /idle-in-transaction timeout/);
    }, { idleInTransactionTimeoutMs: 300 }),
});

Deno.test({
  name: "connections beyond maxConnections are refused with SQLSTATE 53300",
  ...leaky,
  fn: () =>
    withServer(async ({ url }) => {
      const a = connectPostgres(url, { max: 1 });
      const b = connectPostgres(url, { max: 1 });
      try {
        await a.query("SELECT 1");
        const error = await b.query("SELECT 1").then(() => undefined, (e) => e);
        assert.equal(error?.code, "53300", `got ${error}`);
      } finally {
        await a.close();
        await b.close();
      }
    }, { maxConnections: 1 }),
});

Deno.test({
  name: "a socket client's UNLISTEN * does not silence in-process listeners",
  ...leaky,
  fn: () =>
    withServer(async ({ client, server }) => {
      const got: string[] = [];
      await client.listen("keep.me", (p) => got.push(p));
      const raw = await rawClient(server.port);
      await raw.query('LISTEN "keep.me"');
      await raw.query("UNLISTEN *");
      await client.query("SELECT pg_notify('keep.me', 'still here')");
      await waitFor(() => got.length === 1, "the in-process notification");
      raw.close();
    }),
});

Deno.test({
  name: "psql can use the socket server (SSL refused politely, simple protocol, notifications)",
  ignore: !(() => {
    try {
      return Deno.statSync("/usr/bin/psql").isFile;
    } catch {
      return false;
    }
  })(),
  ...leaky,
  fn: () =>
    withServer(async ({ url }) => {
      const out = await new Deno.Command("psql", {
        args: [
          url,
          "-X",
          "-c",
          "CREATE TABLE p (n int)",
          "-c",
          "INSERT INTO p VALUES (7)",
          "-c",
          "SELECT n FROM p",
          "-c",
          "LISTEN foo",
          "-c",
          "NOTIFY foo, 'hi'",
        ],
        stdout: "piped",
        stderr: "piped",
        env: { PGSSLMODE: "prefer", PGCONNECT_TIMEOUT: "10" },
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      assert.match(text, /\n +7\n/);
      assert.match(text, /Asynchronous notification "foo" with payload "hi"/);
    }),
});

Deno.test({
  name: "notifications cross between socket clients and the in-process client in both directions",
  ...leaky,
  fn: () =>
    withServer(async ({ client, url }) => {
      const remote = connectPostgres(url, { max: 1 });
      try {
        const inProcess: string[] = [];
        const overSocket: string[] = [];
        await client.listen("pgmq_message_ready.catalog", (p) => inProcess.push(p));
        await remote.listen("orchestration.results", (p) => overSocket.push(p));
        // A socket client's NOTIFY, committed inside its transaction, reaches the broker in process...
        await remote.transaction(async (tx) => {
          await tx.query("SELECT pg_notify('pgmq_message_ready.catalog', 'from-socket')");
        });
        // ...and the broker's reaches the socket client.
        await client.query("SELECT pg_notify('orchestration.results', 'from-process')");
        await waitFor(
          () => inProcess.length === 1 && overSocket.length === 1,
          "both notifications",
        );
        assert.deepEqual(inProcess, ["from-socket"]);
        assert.deepEqual(overSocket, ["from-process"]);
      } finally {
        await remote.close();
      }
    }),
});
