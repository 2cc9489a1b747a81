import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { connectPostgres } from "./postgres_client.ts";
import { defaultSocketHost, postgresTarget, type SocketLookup } from "./postgres_url.ts";

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

Deno.test("postgresTarget() takes libpq's port parameter out of the URL", () => {
  assert.deepEqual(postgresTarget("postgres://u@localhost/db?host=/run/pg&port=5433"), {
    url: "postgres://u@localhost/db",
    host: "/run/pg",
    port: 5433,
  });
  // libpq's usual socket form has no host in the URL at all.
  assert.deepEqual(postgresTarget("postgres:///db?host=/run/pg&port=5433"), {
    url: "postgres:///db",
    host: "/run/pg",
    port: 5433,
  });
  // Without ?host= too; the parameter wins over the URL's port (connectPostgres passes it as
  // postgres.js's port option, which does).
  assert.deepEqual(postgresTarget("postgres://u@db.example:5432/db?port=6432&sslmode=require"), {
    url: "postgres://u@db.example:5432/db?sslmode=require",
    port: 6432,
  });
  // An empty port means the default, as in libpq.
  assert.deepEqual(postgresTarget("postgres://u@localhost/db?port="), {
    url: "postgres://u@localhost/db",
  });
});

Deno.test("postgresTarget() decodes only percent-escapes, as libpq does", () => {
  assert.deepEqual(postgresTarget("postgres://u@localhost/db?host=/run/my+pg&port=%35433"), {
    url: "postgres://u@localhost/db",
    host: "/run/my+pg",
    port: 5433,
  });
  // Other parameters are left as written, for postgres.js.
  assert.deepEqual(postgresTarget("postgres://u@localhost/db?application_name=a+b&host=/run/pg"), {
    url: "postgres://u@localhost/db?application_name=a+b",
    host: "/run/pg",
  });
  assert.throws(() => postgresTarget("postgres://u@localhost/db?host=%E0%A4%A"), {
    code: "database_config_invalid",
    message: /host parameter is not valid percent-encoding/,
  });
});

Deno.test("postgresTarget() refuses host or port parameters on a URL that lists several hosts", () => {
  assert.throws(() => postgresTarget("postgres://u@h1:5432,h2:5433/db?port=5434"), {
    code: "database_config_invalid",
    message: /lists several hosts/,
  });
  // Without them the URL goes to postgres.js as it is (it handles the list itself).
  const list = "postgres://u:p@h1:5432,h2:5433/db?sslmode=require";
  assert.deepEqual(postgresTarget(list), { url: list });
});

Deno.test("postgresTarget() refuses a port parameter that is not one port number with database_config_invalid", () => {
  for (const port of ["0", "65536", "54x", "-1", "5432,5433", "%205432"]) {
    assert.throws(
      () => postgresTarget(`postgres://u@localhost/db?port=${port}`),
      (e: unknown) =>
        (e as { code?: string }).code === "database_config_invalid" &&
        /port parameter must be one port number/.test((e as Error).message),
      port,
    );
  }
  assert.throws(() => postgresTarget("postgres://u@localhost/db?port=1&port=2"), /given once/);
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
    // ?port= names the socket file (.s.PGSQL.5432), as in libpq; the URL's host is overruled.
    const db = connectPostgres(
      `postgres://postgres@localhost:1/postgres?host=${SOCKET_DIR}&port=5432`,
      { max: 1 },
    );
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

/** A lookup with these environment variables and these sockets, recording what it was asked. */
function lookupOf(
  env: Record<string, string>,
  sockets: string[],
): SocketLookup & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    env: (name) => env[name],
    isSocket: (path) => (asked.push(path), sockets.includes(path)),
  };
}

Deno.test("defaultSocketHost() picks the first default directory holding the port's socket", () => {
  const both = lookupOf({}, ["/var/run/postgresql/.s.PGSQL.5432", "/tmp/.s.PGSQL.5432"]);
  assert.equal(defaultSocketHost("postgres:///tasker", both), "/var/run/postgresql");
  const tmp = lookupOf({}, ["/tmp/.s.PGSQL.5432"]);
  assert.equal(defaultSocketHost("postgres:///tasker?sslmode=disable", tmp), "/tmp");
  assert.deepEqual(tmp.asked, [
    "/var/run/postgresql/.s.PGSQL.5432",
    "/private/tmp/.s.PGSQL.5432",
    "/tmp/.s.PGSQL.5432",
  ]);
});

Deno.test("defaultSocketHost() takes the port from ?port=, then PGPORT as written, then 5432", () => {
  const sockets = ["/tmp/.s.PGSQL.5433", "/tmp/.s.PGSQL.05435"];
  const byParameter = lookupOf({ PGPORT: "05435" }, sockets);
  assert.equal(defaultSocketHost("postgres:///db?port=5433", byParameter), "/tmp");
  assert.equal(byParameter.asked.at(-1), "/tmp/.s.PGSQL.5433");
  // postgres.js builds the socket's path from PGPORT's text, so the look-up does too.
  const byEnv = lookupOf({ PGPORT: "05435" }, sockets);
  assert.equal(defaultSocketHost("postgres:///db", byEnv), "/tmp");
  assert.equal(byEnv.asked.at(-1), "/tmp/.s.PGSQL.05435");
  const byDefault = lookupOf({ PGPORT: "" }, []);
  assert.equal(defaultSocketHost("postgres:///db", byDefault), undefined);
  assert.equal(byDefault.asked.at(-1), "/tmp/.s.PGSQL.5432");
});

Deno.test("defaultSocketHost() leaves a named host, ?host= and PGHOST alone", () => {
  const everywhere: SocketLookup = { env: () => undefined, isSocket: () => true };
  for (
    const url of [
      "postgres://localhost/db",
      "postgres://u:p@db.internal:5432/db",
      "postgres://[::1]/db",
      "postgres://%2Ftmp/db",
      "postgresql://h1,h2/db",
      "postgres:///db?host=/run/pg",
      "postgres:///db?host=db.internal",
    ]
  ) {
    assert.equal(defaultSocketHost(url, everywhere), undefined, url);
  }
  const pgHost = lookupOf({ PGHOST: "/run/pg" }, ["/var/run/postgresql/.s.PGSQL.5432"]);
  assert.equal(defaultSocketHost("postgres:///db", pgHost), undefined, "postgres.js reads PGHOST");
  assert.deepEqual(pgHost.asked, []);
  // An empty PGHOST is unset, as in libpq.
  const emptyPgHost = lookupOf({ PGHOST: "" }, ["/var/run/postgresql/.s.PGSQL.5432"]);
  assert.equal(defaultSocketHost("postgres:///db", emptyPgHost), "/var/run/postgresql");
});

Deno.test({
  name:
    "connectPostgres() reaches a URL without a host through the local socket, as libpq and sqlx",
  // PGHOST, PGPORT or PGUSERNAME would take the client elsewhere than this test means.
  ignore: !existsSync(`${SOCKET_DIR}/.s.PGSQL.5432`) ||
    ["PGHOST", "PGPORT", "PGUSERNAME"].some((name) => Deno.env.get(name) !== undefined),
  async fn() {
    // postgres.js reads PGUSER when the client is made; the URL has no room for a user here.
    const user = Deno.env.get("PGUSER");
    Deno.env.set("PGUSER", "postgres");
    let db;
    try {
      db = connectPostgres("postgres:///postgres", { max: 1, connectTimeoutSeconds: 5 });
    } finally {
      if (user === undefined) Deno.env.delete("PGUSER");
      else Deno.env.set("PGUSER", user);
    }
    try {
      const [row] = await db.query<{ addr: string | null }>("SELECT inet_server_addr() AS addr");
      assert.equal(row.addr, null, "a Unix socket, not localhost over TCP");
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
