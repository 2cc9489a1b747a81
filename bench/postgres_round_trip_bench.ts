/**
 * One PostgreSQL round trip from the broker's client (postgres.js through
 * `connectPostgres`), over loopback TCP and over the server's Unix socket
 * (`?host=<dir>`, src/db/postgres_url.ts), on one throwaway cluster: the
 * per-statement cost a broker pays 4 times per step (docs/operations.md).
 *
 *   deno bench -A bench/postgres_round_trip_bench.ts
 *
 * Needs PostgreSQL's binaries (a throwaway cluster, as the tests start one).
 *
 * @module
 */
import { connectPostgres } from "../src/db/postgres_client.ts";
import { startTestDatabase } from "../tests/support/database_harness.ts";

const db = await startTestDatabase({ kind: "postgres", controllable: true });
const tcp = connectPostgres(db.url!, { max: 1 });
const unix = connectPostgres(`${db.url}?host=${encodeURIComponent(db.server!.socketDir!)}`, {
  max: 1,
});
const [viaSocket] = await unix.query<{ addr: string | null }>("SELECT inet_server_addr() AS addr");
if (viaSocket.addr !== null) throw new Error("the ?host= connection did not use the Unix socket");
globalThis.addEventListener("unload", () => {
  // deno bench ends the process after the last bench; the cluster must not outlive it.
  void Promise.all([tcp.close(), unix.close()]).finally(() => db.close());
});

let i = 0;
Deno.bench(
  { name: "SELECT $1 over loopback TCP", group: "round trip", baseline: true },
  async () => {
    await tcp.query("SELECT $1::int AS x", [i++]);
  },
);
Deno.bench({ name: "SELECT $1 over the Unix socket", group: "round trip" }, async () => {
  await unix.query("SELECT $1::int AS x", [i++]);
});
