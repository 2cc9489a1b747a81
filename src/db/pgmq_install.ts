/**
 * Installs pgmq (the PostgreSQL message queue the Tasker protocol runs on)
 * into a database, from the copy of pgmq 1.11.1 that `@electric-sql/pglite-pgmq`
 * ships as pure SQL (`dist/pgmq.tar.gz`). PGMQ is no Debian package, so this
 * is how a plain PostgreSQL server gets it:
 *
 * - already there (`CREATE EXTENSION` earlier, or an earlier plain-SQL
 *   install) → nothing happens (`"present"`);
 * - the server lists pgmq in `pg_available_extensions` (its files are in the
 *   server's share dir, see {@link installPgmqExtensionFiles}) →
 *   `CREATE EXTENSION pgmq` (`"extension_created"`);
 * - otherwise → pgmq's install script runs as plain SQL; pgmq ≥ 1.5 supports
 *   this (it creates schema `pgmq` itself when no extension row exists)
 *   (`"sql_installed"`). The schema's comment records the version, as there
 *   is no `pg_extension` row to hold it.
 *
 * Every path runs in one transaction under an advisory lock, so two
 * processes installing at once serialize and the second finds `"present"`.
 *
 * @module
 */
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DatabaseError } from "./database_error.ts";
import type { SqlClient, SqlExecutor } from "./sql_client.ts";

/** How {@link installPgmq} found or put pgmq into the database. */
export type PgmqInstallStatus = "present" | "extension_created" | "sql_installed";

/** What {@link installPgmq} did. */
export interface PgmqInstallResult {
  status: PgmqInstallStatus;
  /** The pgmq version now installed (`"unknown"` for a plain-SQL install made by someone else). */
  version: string;
}

/** Options for {@link installPgmq}. */
export interface InstallPgmqOptions {
  /**
   * Whether `CREATE EXTENSION pgmq` may be used when the server offers it.
   * Defaults to `true`; `false` forces the plain-SQL path.
   */
  createExtension?: boolean;
  /** The bundle to install from; {@link readPgmqBundle}'s by default. */
  bundle?: PgmqBundle;
  /** Receives one line per decision, for CLIs and logs. */
  log?: (message: string) => void;
}

/** pgmq as found in the tarball: the control file and the install script of its default version. */
export interface PgmqBundle {
  /** `default_version` from `pgmq.control`, e.g. `"1.11.1"`. */
  version: string;
  /** The text of `pgmq.control`. */
  control: string;
  /** The text of `pgmq--<version>.sql`. */
  sql: string;
}

/** Where pgmq is installed in a database, as {@link detectPgmq} reports it. */
export type PgmqPresence =
  | { installed: false }
  | { installed: true; method: "extension" | "sql"; version: string };

/**
 * An arbitrary but fixed advisory-lock key (`hashtext` of a fixed string would
 * do too); every process installing pgmq takes it for the length of its
 * install transaction.
 */
export const PGMQ_INSTALL_LOCK_KEY = 7_310_442_171;

const SQL_INSTALL_COMMENT_PREFIX = "pgmq ";
const SQL_INSTALL_COMMENT_SUFFIX = " installed as plain SQL by wasm-broker";

/**
 * Reports whether pgmq is installed, how, and which version.
 *
 * @example
 * ```ts ignore
 * import { detectPgmq } from "./pgmq_install.ts";
 * const presence = await detectPgmq(client);
 * if (!presence.installed) console.log("run deno task db:setup");
 * ```
 */
export async function detectPgmq(db: SqlExecutor): Promise<PgmqPresence> {
  const [row] = await db.query<
    { ext_version: string | null; has_send: boolean; note: string | null }
  >(
    `SELECT (SELECT extversion FROM pg_extension WHERE extname = 'pgmq') AS ext_version,
            to_regprocedure('pgmq.send(text,jsonb,integer)') IS NOT NULL AS has_send,
            (SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = 'pgmq') AS note`,
  );
  if (row.ext_version) return { installed: true, method: "extension", version: row.ext_version };
  if (!row.has_send) return { installed: false };
  const match = /^pgmq (\S+) installed as plain SQL/.exec(row.note ?? "");
  return { installed: true, method: "sql", version: match ? match[1] : "unknown" };
}

/**
 * Makes sure pgmq is installed in the database `client` is connected to.
 * Idempotent and safe to run from several processes at once.
 *
 * @example
 * ```ts ignore
 * import { installPgmq } from "./pgmq_install.ts";
 * const { status, version } = await installPgmq(client);
 * console.log(status, version); // "sql_installed" "1.11.1" on a fresh plain server
 * ```
 */
export async function installPgmq(
  client: SqlClient,
  options: InstallPgmqOptions = {},
): Promise<PgmqInstallResult> {
  const log = options.log ?? (() => {});
  // Fast path without a transaction: the common case is "already there".
  const before = await detectPgmq(client);
  if (before.installed) {
    log(
      `pgmq ${before.version} already present (${
        before.method === "extension" ? "extension" : "plain SQL"
      })`,
    );
    return { status: "present", version: before.version };
  }
  const bundle = options.bundle ?? await readPgmqBundle();
  const attempt: { method: "extension" | "sql" } = { method: "sql" };
  try {
    return await client.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock($1::bigint)", [PGMQ_INSTALL_LOCK_KEY]);
      // Re-check under the lock: another process may have installed it meanwhile.
      const now = await detectPgmq(tx);
      if (now.installed) {
        log(`pgmq ${now.version} already present (installed concurrently)`);
        return { status: "present", version: now.version } as PgmqInstallResult;
      }
      const [available] = await tx.query<{ default_version: string | null }>(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'pgmq'",
      );
      if (available && options.createExtension !== false) {
        attempt.method = "extension";
        await tx.query("CREATE EXTENSION pgmq");
        const [{ extversion }] = await tx.query<{ extversion: string }>(
          "SELECT extversion FROM pg_extension WHERE extname = 'pgmq'",
        );
        log(`pgmq ${extversion} installed with CREATE EXTENSION`);
        return { status: "extension_created", version: extversion } as PgmqInstallResult;
      }
      await tx.query(pgmqInstallScript(bundle));
      await tx.query(
        `COMMENT ON SCHEMA pgmq IS '${SQL_INSTALL_COMMENT_PREFIX}${bundle.version}${SQL_INSTALL_COMMENT_SUFFIX}'`,
      );
      log(`pgmq ${bundle.version} installed as plain SQL`);
      return { status: "sql_installed", version: bundle.version } as PgmqInstallResult;
    });
  } catch (error) {
    throw new DatabaseError(
      "pgmq_install_failed",
      `Cannot install pgmq ${bundle.version} as ${
        attempt.method === "extension" ? "CREATE EXTENSION" : "plain SQL"
      } failed: ${(error as Error)?.message ?? String(error)}`,
      { details: { method: attempt.method, version: bundle.version }, cause: error },
    );
  }
}

/**
 * The bundle's install script made runnable as plain SQL: psql-only lines
 * (`\echo ... \quit`, which guard against running it outside CREATE EXTENSION)
 * are dropped and `@extschema@` becomes `pgmq`.
 *
 * @example
 * ```ts
 * import { pgmqInstallScript } from "./pgmq_install.ts";
 * const sql = pgmqInstallScript({ version: "9", control: "", sql: "\\echo Use CREATE EXTENSION \\quit\nSELECT '@extschema@';" });
 * console.assert(sql === "SELECT 'pgmq';");
 * ```
 */
export function pgmqInstallScript(bundle: PgmqBundle): string {
  return bundle.sql
    .split("\n")
    .filter((line) => !line.startsWith("\\"))
    .join("\n")
    .replaceAll("@extschema@", "pgmq")
    .trim();
}

let cachedBundle: Promise<PgmqBundle> | undefined;

/**
 * The URL of `@electric-sql/pglite-pgmq`'s `dist/pgmq.tar.gz`, found through
 * the import map (so it is the exact version `deno.lock` pins).
 */
export function pgmqTarballUrl(): URL {
  return new URL("./pgmq.tar.gz", import.meta.resolve("@electric-sql/pglite-pgmq"));
}

/**
 * Reads pgmq's control file and install script out of the tarball (cached
 * after the first call).
 *
 * @example
 * ```ts
 * import { readPgmqBundle } from "./pgmq_install.ts";
 * const bundle = await readPgmqBundle();
 * console.assert(bundle.version === "1.11.1" && bundle.sql.includes("CREATE FUNCTION pgmq.send"));
 * ```
 */
export function readPgmqBundle(tarball: URL = pgmqTarballUrl()): Promise<PgmqBundle> {
  if (tarball.href !== pgmqTarballUrl().href) return loadBundle(tarball);
  cachedBundle ??= loadBundle(tarball).catch((error) => {
    cachedBundle = undefined;
    throw error;
  });
  return cachedBundle;
}

async function loadBundle(tarball: URL): Promise<PgmqBundle> {
  const gz = await Deno.readFile(tarball);
  const tar = new Uint8Array(
    await new Response(new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip")))
      .arrayBuffer(),
  );
  const files = readTar(tar);
  const dir = "share/postgresql/extension/";
  const decoder = new TextDecoder();
  const control = files.get(`${dir}pgmq.control`);
  if (!control) {
    throw new DatabaseError(
      "pgmq_install_failed",
      `Cannot read pgmq from ${tarball.pathname} as it has no ${dir}pgmq.control`,
      { details: { tarball: tarball.href } },
    );
  }
  const controlText = decoder.decode(control);
  const version = /^\s*default_version\s*=\s*'([^']+)'/m.exec(controlText)?.[1];
  const sql = version ? files.get(`${dir}pgmq--${version}.sql`) : undefined;
  if (!version || !sql) {
    throw new DatabaseError(
      "pgmq_install_failed",
      `Cannot read pgmq from ${tarball.pathname} as its install script for default_version ${
        version ?? "(none)"
      } is missing`,
      { details: { tarball: tarball.href, version } },
    );
  }
  return { version, control: controlText, sql: decoder.decode(sql) };
}

/**
 * Reads the regular files of an uncompressed tar archive (ustar, with GNU
 * long names and pax `path` records) into a map from path to bytes.
 *
 * @example
 * ```ts
 * import { readTar } from "./pgmq_install.ts";
 * console.assert(readTar(new Uint8Array(1024)).size === 0); // two zero blocks end an archive
 * ```
 */
export function readTar(tar: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const decoder = new TextDecoder();
  const text = (start: number, length: number) => {
    const bytes = tar.subarray(start, start + length);
    const end = bytes.indexOf(0);
    return decoder.decode(end === -1 ? bytes : bytes.subarray(0, end));
  };
  let offset = 0;
  let longName: string | undefined;
  while (offset < tar.length) {
    if (offset + 512 > tar.length) {
      throw new RangeError(
        `Cannot read tar entry at offset ${offset} as the archive ends inside its header`,
      );
    }
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const sizeField = text(offset + 124, 12).trim();
    const size = sizeField === "" ? 0 : parseInt(sizeField, 8);
    if (!Number.isFinite(size) || size < 0) {
      throw new RangeError(
        `Cannot read tar entry at offset ${offset} as its size is not octal: current value is "${sizeField}"`,
      );
    }
    const type = String.fromCharCode(header[156] || 0x30);
    const dataStart = offset + 512;
    const data = tar.subarray(dataStart, dataStart + size);
    if (data.length !== size) {
      throw new RangeError(
        `Cannot read tar entry at offset ${offset} as the archive ends inside it`,
      );
    }
    const magic = text(offset + 257, 6);
    const prefix = magic.startsWith("ustar") ? text(offset + 345, 155) : "";
    const headerName = prefix ? `${prefix}/${text(offset, 100)}` : text(offset, 100);
    if (type === "L") {
      longName = decoder.decode(data).replace(/\0+$/, "");
    } else if (type === "x") {
      const path = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(decoder.decode(data))?.[1];
      if (path) longName = path;
    } else {
      if (type === "0" || type === "\0" || type === "7") {
        files.set((longName ?? headerName).replace(/^\.\//, ""), data);
      }
      longName = undefined;
    }
    offset = dataStart + Math.ceil(size / 512) * 512;
  }
  return files;
}

/** What {@link installPgmqExtensionFiles} wrote. */
export interface PgmqExtensionFiles {
  version: string;
  controlPath: string;
  sqlPath: string;
}

/**
 * Copies `pgmq.control` and `pgmq--<version>.sql` into `<sharedir>/extension/`
 * (`sharedir` = `pg_config --sharedir`), after which the server lists pgmq in
 * `pg_available_extensions` and {@link installPgmq} uses `CREATE EXTENSION`.
 * Needs write access to the share dir (root on Debian); files are written
 * under a temporary name and renamed, so a concurrent `CREATE EXTENSION`
 * never reads half a file.
 *
 * @example
 * ```ts
 * import { installPgmqExtensionFiles } from "./pgmq_install.ts";
 * const dir = await Deno.makeTempDir();
 * const files = await installPgmqExtensionFiles(dir);
 * console.assert(files.controlPath === `${dir}/extension/pgmq.control`);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function installPgmqExtensionFiles(
  sharedir: string,
  options: { bundle?: PgmqBundle } = {},
): Promise<PgmqExtensionFiles> {
  const bundle = options.bundle ?? await readPgmqBundle();
  const dir = join(sharedir, "extension");
  await mkdir(dir, { recursive: true });
  const controlPath = join(dir, "pgmq.control");
  const sqlPath = join(dir, `pgmq--${bundle.version}.sql`);
  for (const [path, content] of [[sqlPath, bundle.sql], [controlPath, bundle.control]]) {
    const temp = `${path}.${Deno.pid}.tmp`;
    await writeFile(temp, content, { mode: 0o644 });
    await rename(temp, path);
  }
  return { version: bundle.version, controlPath, sqlPath };
}
