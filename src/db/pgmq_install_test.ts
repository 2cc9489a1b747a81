import assert from "node:assert/strict";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { pgmq } from "@electric-sql/pglite-pgmq";
import { canStartPostgres, startTestDatabase } from "../../tests/support/database_harness.ts";
import { DatabaseError } from "./database_error.ts";
import { createPgliteClient } from "./pglite_client.ts";
import {
  detectPgmq,
  installPgmq,
  installPgmqExtensionFiles,
  pgmqInstallScript,
  readPgmqBundle,
  readTar,
} from "./pgmq_install.ts";
import { connectPostgres } from "./postgres_client.ts";
import type { SqlClient } from "./sql_client.ts";

const realServer = { ignore: !canStartPostgres(), sanitizeOps: false, sanitizeResources: false };

async function assertQueueWorks(client: SqlClient): Promise<void> {
  await client.query("SELECT pgmq.create('install_probe')");
  const [{ id }] = await client.query<{ id: number }>(
    "SELECT pgmq.send('install_probe', $1::jsonb) AS id",
    [
      JSON.stringify({ ok: true }),
    ],
  );
  const rows = await client.query<{ msg_id: number; message: unknown }>(
    "SELECT msg_id, message FROM pgmq.read('install_probe', 30, 1)",
  );
  assert.deepEqual(rows, [{ msg_id: id, message: { ok: true } }]);
}

Deno.test("readPgmqBundle reads pgmq 1.11.1's control file and install script from pglite-pgmq's tarball", async () => {
  const bundle = await readPgmqBundle();
  assert.equal(bundle.version, "1.11.1");
  assert.match(bundle.control, /default_version = '1\.11\.1'/);
  assert.match(bundle.sql, /CREATE FUNCTION pgmq\.send\(/);
  assert.match(bundle.sql, /CREATE SCHEMA IF NOT EXISTS pgmq/);
  assert.equal(await readPgmqBundle(), bundle, "cached");
});

Deno.test("readTar reads ustar, GNU long-name and pax entries and rejects a truncated archive", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const longDir = "d".repeat(60) + "/" + "e".repeat(60);
    await Deno.mkdir(join(dir, "src", longDir), { recursive: true });
    await Deno.writeTextFile(join(dir, "src", "short.txt"), "short");
    await Deno.writeTextFile(join(dir, "src", longDir, "long.txt"), "long".repeat(200));
    for (const format of ["ustar", "gnu", "pax"]) {
      const archive = join(dir, `${format}.tar`);
      const out = await new Deno.Command("tar", {
        args: ["--format", format, "-cf", archive, "-C", join(dir, "src"), "."],
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      const files = readTar(await Deno.readFile(archive));
      const decoder = new TextDecoder();
      assert.equal(decoder.decode(files.get("short.txt")), "short", format);
      assert.equal(decoder.decode(files.get(`${longDir}/long.txt`)), "long".repeat(200), format);
      assert.equal([...files.keys()].length, 2, `${format}: directories are not files`);
    }
    const whole = await Deno.readFile(join(dir, "ustar.tar"));
    const latin1 = new TextDecoder("latin1");
    let header = 0;
    while (!latin1.decode(whole.subarray(header, header + 100)).includes("long.txt")) header += 512;
    assert.match(
      latin1.decode(whole.subarray(header + 345, header + 360)),
      /d{10}/,
      "the path is split into prefix + name",
    );
    assert.throws(
      () => readTar(whole.subarray(0, header + 512 + 10)),
      RangeError,
      "cut inside data",
    );
    assert.throws(
      () => readTar(whole.subarray(0, header + 100)),
      RangeError,
      "cut inside a header",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pgmqInstallScript drops psql backslash lines and resolves @extschema@", () => {
  const script = pgmqInstallScript({
    version: "0",
    control: "",
    sql:
      '\\echo Use "CREATE EXTENSION pgmq" to load this file. \\quit\nCREATE TABLE @extschema@.t (n int);\n',
  });
  assert.equal(script, "CREATE TABLE pgmq.t (n int);");
});

Deno.test("installPgmqExtensionFiles writes pgmq.control and the install script under <sharedir>/extension", async () => {
  const sharedir = await Deno.makeTempDir();
  try {
    const bundle = await readPgmqBundle();
    const files = await installPgmqExtensionFiles(sharedir);
    assert.deepEqual(files, {
      version: "1.11.1",
      controlPath: join(sharedir, "extension", "pgmq.control"),
      sqlPath: join(sharedir, "extension", "pgmq--1.11.1.sql"),
    });
    assert.equal(await Deno.readTextFile(files.controlPath), bundle.control);
    assert.equal(await Deno.readTextFile(files.sqlPath), bundle.sql);
    assert.equal((await Deno.stat(files.sqlPath)).mode! & 0o777, 0o644);
    // Again: overwrites in place, leaves no temporary files.
    await installPgmqExtensionFiles(sharedir);
    const names = [...Deno.readDirSync(join(sharedir, "extension"))].map((e) => e.name).sort();
    assert.deepEqual(names, ["pgmq--1.11.1.sql", "pgmq.control"]);
  } finally {
    await Deno.remove(sharedir, { recursive: true });
  }
});

Deno.test({
  name: "installPgmq installs pgmq as plain SQL (createExtension: false), then finds it present",
  ...realServer,
  fn: async () => {
    const db = await startTestDatabase({ kind: "postgres", bare: true });
    try {
      assert.deepEqual(await detectPgmq(db.client), { installed: false });
      const lines: string[] = [];
      const first = await installPgmq(db.client, {
        createExtension: false,
        log: (l) => lines.push(l),
      });
      assert.deepEqual(first, { status: "sql_installed", version: "1.11.1" });
      assert.deepEqual(lines, ["pgmq 1.11.1 installed as plain SQL"]);
      assert.deepEqual(await detectPgmq(db.client), {
        installed: true,
        method: "sql",
        version: "1.11.1",
      });
      assert.deepEqual(await installPgmq(db.client), { status: "present", version: "1.11.1" });
      const [ext] = await db.client.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'pgmq'",
      );
      assert.equal(ext.n, 0, "a plain-SQL install has no extension row");
      await assertQueueWorks(db.client);
    } finally {
      await db.close();
    }
  },
});

Deno.test({
  name:
    "installPgmq on a real server uses CREATE EXTENSION exactly when the server offers pgmq, else plain SQL",
  ...realServer,
  fn: async () => {
    const db = await startTestDatabase({ kind: "postgres", bare: true });
    try {
      // CI copies pgmq's files into the share dir (db:setup --install-extension-files); a bare machine has none.
      const offered =
        (await db.client.query("SELECT 1 FROM pg_available_extensions WHERE name = 'pgmq'"))
          .length > 0;
      const result = await installPgmq(db.client);
      assert.deepEqual(result, {
        status: offered ? "extension_created" : "sql_installed",
        version: "1.11.1",
      });
      const presence = await detectPgmq(db.client);
      assert.deepEqual(presence, {
        installed: true,
        method: offered ? "extension" : "sql",
        version: "1.11.1",
      });
      await assertQueueWorks(db.client);
    } finally {
      await db.close();
    }
  },
});

Deno.test({
  name: "installPgmq run by three connections at once installs once; the others find it present",
  ...realServer,
  fn: async () => {
    const db = await startTestDatabase({ kind: "postgres", bare: true });
    const clients = Array.from({ length: 3 }, () => connectPostgres(db.url!, { max: 1 }));
    try {
      const results = await Promise.all(
        clients.map((c, i) => installPgmq(c, { createExtension: i % 2 === 0 })),
      );
      const installed = results.filter((r) => r.status !== "present");
      assert.equal(installed.length, 1, JSON.stringify(results));
      assert.equal(results.filter((r) => r.status === "present").length, 2);
      assert.ok(results.every((r) => r.version === "1.11.1"));
      await assertQueueWorks(db.client);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await db.close();
    }
  },
});

Deno.test({
  name: "installPgmq rolls a failed install back completely and reports pgmq_install_failed",
  ...realServer,
  fn: async () => {
    const db = await startTestDatabase({ kind: "postgres", bare: true });
    try {
      const real = await readPgmqBundle();
      const broken = {
        ...real,
        version: "9.9.9",
        sql: real.sql + "\nCREATE FUNCTION pgmq.broken( RETURNS;",
      };
      const error = await installPgmq(db.client, { bundle: broken, createExtension: false }).then(
        () => undefined,
        (e) => e,
      );
      assert.ok(error instanceof DatabaseError, `got ${error}`);
      assert.equal(error.code, "pgmq_install_failed");
      assert.deepEqual(error.details, { method: "sql", version: "9.9.9" });
      assert.deepEqual(await detectPgmq(db.client), { installed: false });
      const [schema] = await db.client.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgmq'",
      );
      assert.equal(schema.n, 0, "nothing of the failed install is left");
      // And the real bundle still installs afterwards.
      assert.equal(
        (await installPgmq(db.client, { createExtension: false })).status,
        "sql_installed",
      );
    } finally {
      await db.close();
    }
  },
});

Deno.test("installPgmq uses CREATE EXTENSION where the server offers pgmq (PGlite with pglite-pgmq)", async () => {
  const client = createPgliteClient(await PGlite.create({ extensions: { pgmq } }), {
    closeDatabase: true,
  });
  try {
    const [offered] = await client.query<{ v: string }>(
      "SELECT default_version AS v FROM pg_available_extensions WHERE name = 'pgmq'",
    );
    assert.equal(offered.v, "1.11.1");
    assert.deepEqual(await installPgmq(client), { status: "extension_created", version: "1.11.1" });
    assert.deepEqual(await detectPgmq(client), {
      installed: true,
      method: "extension",
      version: "1.11.1",
    });
    assert.deepEqual(await installPgmq(client), { status: "present", version: "1.11.1" });
    await assertQueueWorks(client);
  } finally {
    await client.close();
  }
});

Deno.test("installPgmq with createExtension: false installs plain SQL even where the extension is offered", async () => {
  const client = createPgliteClient(await PGlite.create({ extensions: { pgmq } }), {
    closeDatabase: true,
  });
  try {
    assert.deepEqual(await installPgmq(client, { createExtension: false }), {
      status: "sql_installed",
      version: "1.11.1",
    });
    assert.deepEqual(await detectPgmq(client), {
      installed: true,
      method: "sql",
      version: "1.11.1",
    });
    await assertQueueWorks(client);
  } finally {
    await client.close();
  }
});
