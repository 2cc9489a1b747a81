import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { connectPostgres } from "./postgres_client.ts";
import { postgresTarget } from "./postgres_url.ts";

Deno.test("postgresTarget() takes libpq's host parameter out of the URL", () => {
  assert.deepEqual(postgresTarget("postgres://u@localhost:5433/db?host=/run/pg"), {
    url: "postgres://u@localhost:5433/db",
    host: "/run/pg",
  });
  assert.deepEqual(
    postgresTarget("postgres://u@localhost/db?sslmode=disable&host=%2Frun%2Fpg"),
    { url: "postgres://u@localhost/db?sslmode=disable", host: "/run/pg" },
  );
  const plain = "postgres://u:p@127.0.0.1:5432/db?sslmode=require";
  assert.deepEqual(postgresTarget(plain), { url: plain });
  assert.deepEqual(postgresTarget("not a url"), { url: "not a url" });
});

Deno.test("postgresTarget() refuses an empty, repeated or listed host parameter with database_config_invalid", () => {
  assert.throws(() => postgresTarget("postgres://u@localhost/db?host="), {
    code: "database_config_invalid",
  });
  assert.throws(() => postgresTarget("postgres://u@localhost/db?host="), /host parameter/);
  assert.throws(() => postgresTarget("postgres://u@localhost/db?host=/a&host=/b"), /given once/);
  assert.throws(() => postgresTarget("postgres://u@localhost/db?host=/a,/b"), /one host/);
});

const SOCKET_DIR = "/var/run/postgresql";

Deno.test({
  name: "connectPostgres() reaches the server through its Unix socket with ?host=<dir>",
  ignore: !existsSync(`${SOCKET_DIR}/.s.PGSQL.5432`),
  async fn() {
    const db = connectPostgres(`postgres://postgres@localhost/postgres?host=${SOCKET_DIR}`, {
      max: 1,
    });
    try {
      // inet_server_addr() is null over a Unix socket.
      const [row] = await db.query<{ addr: string | null }>("SELECT inet_server_addr() AS addr");
      assert.equal(row.addr, null);
      let heard = "";
      const unlisten = await db.listen("postgres_url_test", (p) => heard = p);
      await db.query("SELECT pg_notify('postgres_url_test', 'over the socket')");
      for (let i = 0; i < 100 && !heard; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(heard, "over the socket", "the LISTEN connection uses the socket too");
      await unlisten();
    } finally {
      await db.close();
    }
  },
});

Deno.test("connectPostgres() reports a missing socket as database_unavailable", async () => {
  const db = connectPostgres("postgres://postgres@localhost/postgres?host=/nonexistent-dir", {
    max: 1,
    connectTimeoutSeconds: 2,
  });
  try {
    await assert.rejects(() => db.query("SELECT 1"), { code: "database_unavailable" });
  } finally {
    await db.close();
  }
});
