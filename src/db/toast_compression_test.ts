import assert from "node:assert/strict";
import { canStartPostgres, startTestDatabase } from "../../tests/support/database_harness.ts";
import { startEmbeddedDatabase } from "./embedded_database.ts";
import { openDatabase } from "./open_database.ts";
import { toastCompressionSettings } from "./toast_compression.ts";

Deno.test({
  name: "toastCompressionSettings() asks for lz4 exactly when the server's sessions accept it",
  ignore: !canStartPostgres(),
}, async () => {
  const db = await startTestDatabase({ kind: "postgres", bare: true });
  try {
    const accepted = await db.client.query("SET default_toast_compression = lz4").then(
      () => true,
      () => false,
    );
    const chosen = await toastCompressionSettings(db.url!, "lz4");
    assert.deepEqual(chosen.settings, accepted ? { default_toast_compression: "lz4" } : {});
    assert.match(chosen.why, accepted ? /lz4 for this worker's sessions/ : /server's default/);
  } finally {
    await db.close();
  }
});

Deno.test("toastCompressionSettings() falls back when a server drops the setting asked at connection start", async () => {
  // The embedded PGlite, through its socket: it ignores settings in the startup message (as
  // PgBouncer does with ignore_startup_parameters), so the session reports its own default.
  const dataDir = await Deno.makeTempDir();
  const embedded = await startEmbeddedDatabase({ dataDir });
  try {
    const chosen = await toastCompressionSettings(embedded.url!, "lz4");
    assert.deepEqual(chosen.settings, {});
    assert.match(chosen.why, /server's default \(a session asking for lz4 got pglz\)/);
    // The refusal cost nothing else: the database still serves plain sessions.
    assert.deepEqual(await embedded.client.query("SELECT 1 AS one"), [{ one: 1 }]);
  } finally {
    await embedded.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test({
  name:
    "openDatabase({toastCompression: 'lz4'}) writes large values with lz4 on a server that has it",
  ignore: !canStartPostgres(),
}, async () => {
  const db = await startTestDatabase({ kind: "postgres", skipTaskerDouble: true });
  const lz4 = await openDatabase({ databaseUrl: db.url!, toastCompression: "lz4", max: 2 });
  const plain = await openDatabase({ databaseUrl: db.url!, max: 2 });
  try {
    // Asked of the server directly, not of the code under test (SET LOCAL: no session keeps it).
    const supported = await db.client.transaction((tx) =>
      tx.query("SET LOCAL default_toast_compression = lz4")
    ).then(() => true, () => false);
    await db.client.query("CREATE TABLE big (name text, value jsonb)");
    // ~12 KB of compressible JSON: above the TOAST threshold, so it is compressed.
    const value = JSON.stringify({ rows: Array.from({ length: 400 }, (_, i) => ({ i, k: "v" })) });
    for (const [name, client] of [["lz4", lz4.tasker], ["plain", plain.tasker]] as const) {
      await client.query("INSERT INTO big VALUES ($1, $2::jsonb)", [name, value]);
    }
    const rows = await db.client.query<{ name: string; method: string }>(
      "SELECT name, pg_column_compression(value) AS method FROM big ORDER BY name",
    );
    const [{ setting }] = await db.client.query<{ setting: string }>(
      "SELECT reset_val AS setting FROM pg_settings WHERE name = 'default_toast_compression'",
    );
    assert.deepEqual(rows, [
      { name: "lz4", method: supported ? "lz4" : setting },
      { name: "plain", method: setting },
    ]);
  } finally {
    await lz4.close();
    await plain.close();
    await db.close();
  }
});

Deno.test("toastCompressionSettings() asks for nothing when told so or when the server cannot be reached", async () => {
  assert.deepEqual(
    (await toastCompressionSettings("postgres://u@127.0.0.1:1/x", "server_default")).settings,
    {},
  );
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const unreachable = await toastCompressionSettings(`postgres://u@127.0.0.1:${port}/x`, "lz4");
  assert.deepEqual(unreachable.settings, {});
  assert.match(unreachable.why, /a session asking for lz4 failed/);
});
