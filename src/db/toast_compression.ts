/**
 * How the broker's sessions compress the large values they write. A step's
 * result is written twice per report (`workflow_steps.results` and the
 * transition's event, as Tasker's protocol asks); once it is over ~2 KB
 * PostgreSQL compresses it with `default_toast_compression`, `pglz` unless
 * configured. `lz4` (PostgreSQL 14+, when built with it) does the same work
 * for far less CPU: the report's server time fell by ~30% for `transform` at
 * 10 KB (docs/performance.md, "TOAST compression"). It changes only how
 * values this worker writes are stored; every reader decompresses them
 * transparently.
 *
 * @module
 */
import { connectPostgres } from "./postgres_client.ts";
import type { SqlExecutor } from "./sql_client.ts";

/** `lz4`: when the server supports it; `server_default`: leave the server's setting. */
export type ToastCompression = "lz4" | "server_default";

/**
 * Whether the server `client` talks to accepts `default_toast_compression =
 * lz4` (PostgreSQL 14+ built with lz4; PGlite is not).
 *
 * @example
 * ```ts ignore
 * if (await supportsLz4(client)) settings.default_toast_compression = "lz4";
 * ```
 */
export async function supportsLz4(client: SqlExecutor): Promise<boolean> {
  const rows = await client.query<{ ok: boolean }>(
    `SELECT 'lz4' = ANY (enumvals) AS ok FROM pg_settings
     WHERE name = 'default_toast_compression'`,
  );
  return rows[0]?.ok === true;
}

/**
 * The session settings for `wanted` on the server at `url`: asks the server
 * once, on a connection of its own (a setting the server refuses would fail
 * every connection of the pool). An unreachable server gets none (and `why`
 * says so).
 */
export async function toastCompressionSettings(
  url: string,
  wanted: ToastCompression,
): Promise<{ settings: Record<string, string>; why: string }> {
  if (wanted === "server_default") {
    return { settings: {}, why: "toast compression: the server's default (configured)" };
  }
  const probe = connectPostgres(url, { max: 1, connectTimeoutSeconds: 5 });
  try {
    return await supportsLz4(probe)
      ? {
        settings: { default_toast_compression: "lz4" },
        why: "toast compression: lz4 for this worker's sessions",
      }
      : { settings: {}, why: "toast compression: the server's default (it has no lz4)" };
  } catch (error) {
    return {
      settings: {},
      why: `toast compression: the server's default (cannot ask the server now: ${
        (error as Error).message
      })`,
    };
  } finally {
    await probe.close().catch(() => {});
  }
}
