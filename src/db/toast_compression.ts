/**
 * How the broker's sessions compress the large values they write. A step's
 * result is written twice per report (`workflow_steps.results` and the
 * transition's event, as Tasker's protocol asks); once it is over ~2 KB
 * PostgreSQL compresses it with `default_toast_compression`, `pglz` unless
 * configured. `lz4` (PostgreSQL 14+, when built with it) does the same work
 * for far less CPU: the report's server time fell by ~30% for `transform` at
 * 10 KB (docs/performance.md, "TOAST compression"). It changes only how
 * values this worker writes are stored; readers decompress them
 * transparently (a physical standby or a `pg_upgrade` target must be built
 * with lz4 too, as any server where lz4 was used).
 *
 * @module
 */
import { connectPostgres } from "./postgres_client.ts";

/** `lz4`: when the server supports it; `server_default`: leave the server's setting. */
export type ToastCompression = "lz4" | "server_default";

/** How long the start-up probe may take in all. */
const PROBE_TIMEOUT_MS = 8000;

/** The session setting asked for with `lz4`. */
const LZ4: Readonly<Record<string, string>> = { default_toast_compression: "lz4" };

/**
 * The session settings for `wanted` on the server at `url`. For `lz4` it
 * opens one connection exactly as the pool would — the setting in the
 * startup message — and keeps the setting only if that connection works and
 * the session reports `lz4`: a server without lz4 refuses the value, and a
 * pooler such as PgBouncer refuses (or, told to ignore it, drops) a startup
 * parameter it does not know; a pool sending it would then fail every
 * connection. An unreachable server gets nothing either. `why` says what was
 * chosen and why, for the start-up log.
 *
 * @example
 * ```ts ignore
 * const { settings, why } = await toastCompressionSettings(url, "lz4");
 * log(why);
 * const client = connectPostgres(url, { settings });
 * ```
 */
export async function toastCompressionSettings(
  url: string,
  wanted: ToastCompression,
): Promise<{ settings: Record<string, string>; why: string }> {
  if (wanted === "server_default") {
    return { settings: {}, why: "toast compression: the server's default (configured)" };
  }
  const probe = connectPostgres(url, { max: 1, connectTimeoutSeconds: 5, settings: LZ4 });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    // A deadline for the whole probe: behind a pooler with no free server connection the
    // query would wait for one (PgBouncer: up to query_wait_timeout, 120 s by default).
    const [row] = await Promise.race([
      probe.query<{ method: string }>(
        "SELECT current_setting('default_toast_compression') AS method",
      ),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)),
          PROBE_TIMEOUT_MS,
        );
      }),
    ]);
    return row?.method === "lz4"
      ? { settings: { ...LZ4 }, why: "toast compression: lz4 for this worker's sessions" }
      : {
        settings: {},
        why: `toast compression: the server's default (a session asking for lz4 got ${
          row?.method ?? "nothing"
        })`,
      };
  } catch (error) {
    return {
      settings: {},
      why: `toast compression: the server's default (a session asking for lz4 failed: ${
        (error as Error).message
      })`,
    };
  } finally {
    clearTimeout(timer);
    await probe.close().catch(() => {});
  }
}
