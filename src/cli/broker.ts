/**
 * `deno task broker`: the Tasker worker loop. Not built yet (issue #4): it
 * says so plainly instead of pretending to serve a queue.
 *
 * @module
 */
if (import.meta.main) {
  console.error(
    "wasm-broker: the Tasker worker loop (PGMQ queue, claim/report, embedded PostgreSQL) is not built yet " +
      "(issue #4). Run one step as the broker will with: deno task invoke --help",
  );
  Deno.exit(2);
}
