import assert from "node:assert/strict";
import { canStartPostgres, startTestDatabase } from "../../tests/support/database_harness.ts";
import { openDatabase } from "./open_database.ts";
import { supportsLz4, toastCompressionSettings } from "./toast_compression.ts";

for (const kind of ["postgres", "pglite"] as const) {
  Deno.test({
    name: `supportsLz4() agrees with what the server accepts (${kind})`,
    ignore: kind === "postgres" && !canStartPostgres(),
  }, async () => {
    const db = await startTestDatabase({ kind, bare: true });
    try {
      const supported = await supportsLz4(db.client);
      const accepted = await db.client.query("SET default_toast_compression = lz4").then(
        () => true,
        () => false,
      );
      assert.equal(supported, accepted);
    } finally {
      await db.close();
    }
  });
}

Deno.test({
  name:
    "openDatabase({toastCompression: 'lz4'}) writes large values with lz4 on a server that has it",
  ignore: !canStartPostgres(),
}, async () => {
  const db = await startTestDatabase({ kind: "postgres", skipTaskerDouble: true });
  const lz4 = await openDatabase({ databaseUrl: db.url!, toastCompression: "lz4", max: 2 });
  const plain = await openDatabase({ databaseUrl: db.url!, max: 2 });
  try {
    const supported = await supportsLz4(db.client);
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
      "SELECT setting FROM pg_settings WHERE name = 'default_toast_compression'",
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

Deno.test("toastCompressionSettings() asks for nothing when told so or when the server cannot be asked", async () => {
  assert.deepEqual(
    (await toastCompressionSettings("postgres://u@127.0.0.1:1/x", "server_default")).settings,
    {},
  );
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const unreachable = await toastCompressionSettings(`postgres://u@127.0.0.1:${port}/x`, "lz4");
  assert.deepEqual(unreachable.settings, {});
  assert.match(unreachable.why, /cannot ask the server now/);
});
