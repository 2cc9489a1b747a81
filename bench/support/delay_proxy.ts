/**
 * A throwaway PostgreSQL cluster behind a TCP proxy that holds every chunk
 * for `--delay-ms` in each direction: a stand-in for a database across a
 * network, where each round trip costs more than on loopback (this machine
 * has no `netem`). Chunks keep their order; both sockets use TCP_NODELAY, so
 * the proxy adds no Nagle stalls of its own. With `--delay-ms 1` a
 * postgres.js statement took ~5 ms here (each of its chunks waits, and
 * timers are not finer than 1 ms).
 *
 *   deno run -A bench/support/delay_proxy.ts [--delay-ms 1] [--port 7432]
 *   DATABASE_URL=<printed URL> deno run -A bench/broker_e2e_bench.ts --report ...
 *
 * It prints the URL to use and runs until SIGINT or SIGTERM, which stop the
 * cluster too.
 *
 * @module
 */
import { startTestDatabase } from "../../tests/support/database_harness.ts";

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(Deno.args[i + 1]) : fallback;
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`Cannot start the proxy as --${name} is not a number ≥ 0`);
  }
  return value;
}

if (Deno.args.includes("--help")) {
  console.log("usage: deno run -A bench/support/delay_proxy.ts [--delay-ms 1] [--port 7432]");
  Deno.exit(0);
}
const delayMs = flag("delay-ms", 1);
const port = flag("port", 7432);
const db = await startTestDatabase({ kind: "postgres" });
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void db.close().finally(() => Deno.exit(0)));
}
const target = new URL(db.url!);
const listener = Deno.listen({ hostname: "127.0.0.1", port });

/** Copies `from` to `to`, each chunk `delayMs` late, in order. */
async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  let last = Promise.resolve();
  try {
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) break;
      const chunk = buffer.slice(0, n);
      const previous = last;
      last = new Promise<void>((resolve) => setTimeout(resolve, delayMs))
        .then(() => previous)
        .then(async () => {
          for (let offset = 0; offset < chunk.length;) {
            offset += await to.write(chunk.subarray(offset));
          }
        })
        .catch(() => {}); // the other side went away
    }
  } catch {
    // Reset by the peer: end this direction.
  }
  await last;
  try {
    to.closeWrite();
  } catch {
    // Already closed.
  }
}

const url = new URL(db.url!);
url.port = String(port);
url.pathname = "/postgres";
console.log(url.href);
for await (const conn of listener) {
  const upstream = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
  conn.setNoDelay(true);
  upstream.setNoDelay(true);
  void pipe(conn, upstream);
  void pipe(upstream, conn);
}
