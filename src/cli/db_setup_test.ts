import assert from "node:assert/strict";
import { join } from "node:path";
import { canStartPostgres, startTestDatabase } from "../../tests/support/database_harness.ts";
import { openDatabase } from "../db/open_database.ts";
import { main } from "./db_setup.ts";

const realServer = { ignore: !canStartPostgres(), sanitizeOps: false, sanitizeResources: false };
const leaky = { sanitizeOps: false, sanitizeResources: false };

/** Plain SQL on a bare server, CREATE EXTENSION where pgmq's files are in the share dir (CI). */
function installedInto(url: string): RegExp {
  const escaped = url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(
    `^pgmq 1\\.11\\.1 installed (as plain SQL|with CREATE EXTENSION) into ${escaped}$`,
  );
}

function capture(env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    options: {
      io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) },
      env: (n: string) => env[n],
    },
  };
}

Deno.test("db:setup --help prints usage and exits 0; bad usage exits 2", async () => {
  const help = capture();
  assert.equal(await main(["--help"], help.options), 0);
  assert.match(help.out.join("\n"), /^Usage: deno task db:setup/);
  assert.match(help.out.join("\n"), /--install-extension-files/);
  for (
    const args of [["--bogus"], ["--no-database"], ["--sharedir", "/tmp"], ["positional"], [
      "--pgmq-database-url",
      "postgres://h/q",
    ]]
  ) {
    const run = capture();
    assert.equal(await main(args, run.options), 2, `${args.join(" ")}: ${run.err.join("\n")}`);
    assert.ok(run.err.length > 0);
  }
});

Deno.test("db:setup --install-extension-files --no-database writes the control and SQL files only", async () => {
  const sharedir = await Deno.makeTempDir();
  try {
    const run = capture();
    assert.equal(
      await main(
        ["--install-extension-files", "--sharedir", sharedir, "--no-database"],
        run.options,
      ),
      0,
    );
    assert.deepEqual(run.out, [
      `pgmq 1.11.1 extension files written: ${join(sharedir, "extension", "pgmq.control")}, ${
        join(sharedir, "extension", "pgmq--1.11.1.sql")
      }`,
    ]);
    // pg_config failing is an error (exit 1), not a crash.
    const failing = capture();
    const status = await main(["--install-extension-files", "--no-database"], {
      ...failing.options,
      pgConfigSharedir: () => Promise.reject(new Error("pg_config not found")),
    });
    assert.equal(status, 1);
    assert.match(failing.err.join("\n"), /pg_config not found/);
  } finally {
    await Deno.remove(sharedir, { recursive: true });
  }
});

Deno.test({
  name:
    "db:setup installs pgmq as plain SQL, then reports it present; --tasker-double adds the schema",
  ...realServer,
  fn: async () => {
    const db = await startTestDatabase({ kind: "postgres", bare: true });
    try {
      const first = capture({ DATABASE_URL: db.url! });
      assert.equal(await main([], first.options), 0, first.err.join("\n"));
      assert.equal(first.out.length, 1);
      assert.match(first.out[0], installedInto(db.url!));

      const again = capture();
      assert.equal(
        await main(["--database-url", db.url!, "--tasker-double"], again.options),
        0,
        again.err.join("\n"),
      );
      assert.equal(again.out[0], `pgmq 1.11.1 already present in ${db.url}`);
      assert.equal(again.out[1], `Tasker test double schema installed into ${db.url}`);
      const [row] = await db.client.query<{ ok: boolean }>(
        "SELECT to_regclass('tasker.workflow_steps') IS NOT NULL AS ok",
      );
      assert.equal(row.ok, true);

      const third = capture();
      assert.equal(await main(["--database-url", db.url!, "--tasker-double"], third.options), 0);
      assert.match(third.out[1], /already present/);
    } finally {
      await db.close();
    }
  },
});

Deno.test({
  name: "db:setup --pgmq-database-url installs pgmq in the queue database only",
  ...realServer,
  fn: async () => {
    const tasker = await startTestDatabase({ kind: "postgres", bare: true });
    const queue = await startTestDatabase({ kind: "postgres", bare: true });
    try {
      const run = capture();
      assert.equal(
        await main(["--database-url", tasker.url!, "--pgmq-database-url", queue.url!], run.options),
        0,
      );
      assert.equal(run.out.length, 1);
      assert.match(run.out[0], installedInto(queue.url!));
      const has = async (c: typeof tasker) =>
        (await c.client.query<{ ok: boolean }>("SELECT to_regnamespace('pgmq') IS NOT NULL AS ok"))[
          0
        ].ok;
      assert.equal(await has(queue), true);
      assert.equal(await has(tasker), false);
    } finally {
      await tasker.close();
      await queue.close();
    }
  },
});

Deno.test({
  name:
    "db:setup --pgmq-database-url --tasker-double puts the tables in Tasker's database and the queue side with the queues",
  ...realServer,
  fn: async () => {
    const tasker = await startTestDatabase({ kind: "postgres", bare: true });
    const queue = await startTestDatabase({ kind: "postgres", bare: true });
    try {
      const args = [
        "--database-url",
        tasker.url!,
        "--pgmq-database-url",
        queue.url!,
        "--tasker-double",
      ];
      const run = capture();
      assert.equal(await main(args, run.options), 0, run.err.join("\n"));
      assert.deepEqual(run.out.slice(1), [
        `Tasker test double schema (tables only; its queue side goes to the queue database) installed into ${tasker.url}`,
        `Tasker test double queue functions (tasker.pgmq_send_with_notify, orchestration queues) installed into ${queue.url}`,
      ]);
      const objects = (c: typeof tasker) =>
        c.client.query<{ steps: boolean; send: boolean; pgmq: boolean }>(
          `SELECT to_regclass('tasker.workflow_steps') IS NOT NULL AS steps,
                  to_regprocedure('tasker.pgmq_send_with_notify(text,jsonb,integer)') IS NOT NULL AS send,
                  to_regnamespace('pgmq') IS NOT NULL AS pgmq`,
        );
      assert.deepEqual(await objects(tasker), [{ steps: true, send: false, pgmq: false }]);
      assert.deepEqual(await objects(queue), [{ steps: false, send: true, pgmq: true }]);
      const [results] = await queue.client.query<{ ok: boolean }>(
        "SELECT to_regclass('pgmq.q_orchestration_step_results') IS NOT NULL AS ok",
      );
      assert.equal(results.ok, true);

      const again = capture();
      assert.equal(await main(args, again.options), 0, again.err.join("\n"));
      assert.match(again.out[1], /already present/);
      assert.match(again.out[2], /already present/);
    } finally {
      await tasker.close();
      await queue.close();
    }
  },
});

Deno.test({
  name: "db:setup exits 1 with the error code when the server cannot be reached",
  ...leaky,
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const run = capture();
    assert.equal(
      await main(["--database-url", `postgres://postgres:pw@127.0.0.1:${port}/x`], run.options),
      1,
    );
    assert.match(run.err.join("\n"), /database_unavailable/);
    assert.ok(!run.err.join("\n").includes(":pw@"), "no password in the error output");
  },
});

Deno.test({
  name:
    "db:setup without a URL sets up the embedded database, or goes through a running broker's socket",
  ...leaky,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "wb_setup_" });
    try {
      const first = capture();
      assert.equal(await main(["--data-dir", dataDir], first.options), 0, first.err.join("\n"));
      assert.deepEqual(first.out, [
        `pgmq 1.11.1 installed with CREATE EXTENSION into the embedded database in ${dataDir}/pglite`,
      ]);

      const running = await openDatabase({ dataDir });
      try {
        const attached = capture();
        assert.equal(
          await main(["--data-dir", dataDir, "--tasker-double"], attached.options),
          0,
          attached.err.join("\n"),
        );
        assert.match(
          attached.out[0],
          /^pgmq 1\.11\.1 already present in the embedded database in .* \(through the running broker at postgres:\/\//,
        );
        assert.match(
          attached.out[1],
          /^Tasker test double schema installed into the embedded database/,
        );
        const [row] = await running.tasker.query<{ ok: boolean }>(
          "SELECT to_regclass('tasker.workflow_steps') IS NOT NULL AS ok",
        );
        assert.equal(row.ok, true);
      } finally {
        await running.close();
      }
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "deno run src/cli/db_setup.ts works as a program (exit status and output)",
  ...realServer,
  fn: async () => {
    const db = await startTestDatabase({ kind: "postgres", bare: true });
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("./db_setup.ts", import.meta.url).pathname,
          "--database-url",
          db.url!,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.match(stdout.trim(), installedInto(db.url!));
      const usage = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("./db_setup.ts", import.meta.url).pathname, "--nope"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(usage.code, 2);
    } finally {
      await db.close();
    }
  },
});
