import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseError } from "./database_error.ts";
import { readEmbeddedConnection, startEmbeddedDatabase } from "./embedded_database.ts";
import { connectPostgres } from "./postgres_client.ts";

const leaky = { sanitizeOps: false, sanitizeResources: false };
const moduleUrl = new URL("./embedded_database.ts", import.meta.url).href;

async function tempDataDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "wb_embedded_" });
}

/** Runs a child Deno process; returns its exit code and output. */
async function child(
  code: string,
  dataDir: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    env: { DATA_DIR: dataDir, MODULE: moduleUrl },
    cwd: new URL("../../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

Deno.test({
  name: "startEmbeddedDatabase keeps data and queues across a close and reopen",
  ...leaky,
  fn: async () => {
    const dataDir = await tempDataDir();
    try {
      const first = await startEmbeddedDatabase({ dataDir, socket: false });
      assert.deepEqual(first.pgmq, { status: "extension_created", version: "1.11.1" });
      assert.equal(first.url, undefined);
      assert.equal(first.dir, join(dataDir, "pglite"));
      await first.client.query("CREATE TABLE kept (n int)");
      await first.client.query("INSERT INTO kept VALUES ($1)", [42]);
      await first.client.query("SELECT pgmq.create('worker_catalog_queue')");
      await first.client.query("SELECT pgmq.send('worker_catalog_queue', $1::jsonb)", [
        JSON.stringify({ step: 1 }),
      ]);
      await first.close();
      await first.close(); // idempotent

      const second = await startEmbeddedDatabase({ dataDir, socket: false });
      try {
        assert.deepEqual(second.pgmq, { status: "present", version: "1.11.1" });
        assert.deepEqual(await second.client.query("SELECT n FROM kept"), [{ n: 42 }]);
        assert.deepEqual(
          await second.client.query("SELECT message FROM pgmq.read('worker_catalog_queue', 30, 5)"),
          [{ message: { step: 1 } }],
        );
      } finally {
        await second.close();
      }
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "startEmbeddedDatabase serves a postgres URL (postgres.js, max 1) and writes connection.json while running",
  ...leaky,
  fn: async () => {
    const dataDir = await tempDataDir();
    try {
      const db = await startEmbeddedDatabase({ dataDir });
      const remote = connectPostgres(db.url!, { max: 1 });
      try {
        assert.match(db.url!, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
        const info = await readEmbeddedConnection(dataDir);
        assert.equal(info?.url, db.url);
        assert.equal(info?.pid, Deno.pid);
        const onDisk = JSON.parse(
          await Deno.readTextFile(join(dataDir, "pglite", "connection.json")),
        );
        assert.deepEqual(Object.keys(onDisk).sort(), ["pid", "startedAt", "url"]);

        await remote.query("SELECT pgmq.create($1)", ["from_socket"]);
        const [{ id }] = await remote.query<{ id: number }>(
          "SELECT pgmq.send($1, $2::jsonb) AS id",
          [
            "from_socket",
            JSON.stringify({ hello: "world" }),
          ],
        );
        const [read] = await db.client.query<{ msg_id: number; message: unknown }>(
          "SELECT msg_id, message FROM pgmq.read('from_socket', 30, 1)",
        );
        assert.deepEqual(read, { msg_id: id, message: { hello: "world" } });
      } finally {
        await remote.close();
        await db.close();
      }
      assert.equal(
        await readEmbeddedConnection(dataDir),
        undefined,
        "connection.json is removed on close",
      );
      await assert.rejects(
        Deno.stat(join(dataDir, "pglite", "connection.json")),
        Deno.errors.NotFound,
      );
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "startEmbeddedDatabase refuses a data dir another process has open, with data_dir_locked and its pid",
  ...leaky,
  fn: async () => {
    const dataDir = await tempDataDir();
    try {
      const db = await startEmbeddedDatabase({ dataDir, socket: false });
      try {
        // In this process...
        const same = await startEmbeddedDatabase({ dataDir, socket: false }).then(
          () => undefined,
          (e) => e,
        );
        assert.ok(same instanceof DatabaseError && same.code === "data_dir_locked", `got ${same}`);
        assert.equal(same.details.pid, Deno.pid);
        assert.equal(same.details.lockFile, join(dataDir, "pglite", "lock"));
        // ...and from another one.
        const other = await child(
          `const { startEmbeddedDatabase } = await import(Deno.env.get("MODULE"));
           try { await startEmbeddedDatabase({ dataDir: Deno.env.get("DATA_DIR"), socket: false }); Deno.exit(0); }
           catch (e) { console.log(JSON.stringify({ code: e.code, pid: e.details?.pid })); Deno.exit(3); }`,
          dataDir,
        );
        assert.equal(other.code, 3, other.stderr);
        assert.deepEqual(JSON.parse(other.stdout), { code: "data_dir_locked", pid: Deno.pid });
        // The refused attempts changed nothing.
        assert.deepEqual(await db.client.query("SELECT 1 AS ok"), [{ ok: 1 }]);
      } finally {
        await db.close();
      }
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "startEmbeddedDatabase takes over after the previous owner was killed with SIGKILL, data intact",
  ...leaky,
  fn: async () => {
    const dataDir = await tempDataDir();
    try {
      const owner = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          "--quiet",
          `const { startEmbeddedDatabase } = await import(Deno.env.get("MODULE"));
           const db = await startEmbeddedDatabase({ dataDir: Deno.env.get("DATA_DIR") });
           await db.client.query("CREATE TABLE survived (n int)");
           await db.client.query("INSERT INTO survived VALUES (1)");
           console.log("ready");
           await new Promise(() => {});`,
        ],
        env: { DATA_DIR: dataDir, MODULE: moduleUrl },
        cwd: new URL("../../", import.meta.url).pathname,
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = owner.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let seen = "";
      while (!seen.includes("ready")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("the owner process exited before it was ready");
        seen += value;
      }
      const running = await readEmbeddedConnection(dataDir);
      assert.equal(running?.pid, owner.pid);
      owner.kill("SIGKILL");
      await owner.status;
      reader.releaseLock();
      await owner.stdout.cancel().catch(() => {});

      assert.equal(
        await readEmbeddedConnection(dataDir),
        undefined,
        "a dead owner's connection.json is ignored",
      );
      const db = await startEmbeddedDatabase({ dataDir });
      try {
        assert.deepEqual(await db.client.query("SELECT n FROM survived"), [{ n: 1 }]);
        const lock = await Deno.readTextFile(join(dataDir, "pglite", "lock"));
        assert.equal(JSON.parse(lock).pid, Deno.pid);
        assert.equal((await readEmbeddedConnection(dataDir))?.pid, Deno.pid);
      } finally {
        await db.close();
      }
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
