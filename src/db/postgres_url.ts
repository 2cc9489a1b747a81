/**
 * libpq's way to name a Unix-domain socket (and its port) in a connection
 * URL, for postgres.js, which does not understand it.
 *
 * `postgres://user@localhost/db?host=/var/run/postgresql&port=5433` means "the
 * socket .s.PGSQL.5433 in /var/run/postgresql" to libpq (psql, Tasker's sqlx,
 * pgbench); postgres.js would send `host` and `port` to the server as
 * settings and fail with `unrecognized configuration parameter "host"`. On the same machine the socket is the
 * cheaper way in: 90.7 µs a round trip against 138.5 µs over loopback TCP
 * (bench/postgres_round_trip_bench.ts, docs/operations.md).
 *
 * A URL that names no host at all (`postgres:///db`) means the local socket
 * to libpq and to sqlx, Tasker's driver; postgres.js would connect to
 * localhost over TCP. {@link defaultSocketHost} picks the socket directory
 * the way sqlx does.
 *
 * @module
 */
import { DatabaseError } from "./database_error.ts";

/** A URL for postgres.js and, when the URL named one, the socket directory (or host) apart. */
export interface PostgresTarget {
  /** The URL without its `host` and `port` parameters. */
  url: string;
  /** The `host` parameter's value: a directory (Unix socket) or a host name; absent when not given. */
  host?: string;
  /** The `port` parameter's value (it wins over the URL's port, as in libpq); absent when not given. */
  port?: number;
}

/**
 * Takes the libpq `host` and `port` parameters out of `url`, decoded as libpq
 * decodes them (only `%XX`; an empty `port` means the default). A URL that
 * lists several hosts cannot carry them (`database_config_invalid`).
 *
 * @example
 * ```ts
 * import { postgresTarget } from "./postgres_url.ts";
 * const t = postgresTarget("postgres://tasker@localhost/tasker?host=/var/run/postgresql&sslmode=disable");
 * console.assert(t.host === "/var/run/postgresql");
 * console.assert(t.url === "postgres://tasker@localhost/tasker?sslmode=disable");
 * const p = postgresTarget("postgres:///tasker?host=/run/pg&port=5433");
 * console.assert(p.url === "postgres:///tasker" && p.host === "/run/pg" && p.port === 5433);
 * ```
 */
export function postgresTarget(url: string): PostgresTarget {
  const q = url.indexOf("?");
  if (q < 0) return { url };
  const base = url.slice(0, q);
  // Read raw, as libpq does: only %XX is decoded ("+" stays "+", unlike URLSearchParams).
  const kept: string[] = [];
  const hosts: string[] = [];
  const ports: string[] = [];
  for (const part of url.slice(q + 1).split("&")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    if (key !== "host" && key !== "port") {
      if (part !== "") kept.push(part);
      continue;
    }
    const value = decodeParameter(key, eq < 0 ? "" : part.slice(eq + 1));
    (key === "host" ? hosts : ports).push(value);
  }
  if (hosts.length === 0 && ports.length === 0) return { url };
  const authority = base.slice(base.indexOf("://") + 3).split("/")[0];
  if (authority.slice(authority.lastIndexOf("@") + 1).includes(",")) {
    throw invalid(
      "host",
      "Cannot connect as a URL that lists several hosts cannot also carry host or port parameters",
    );
  }
  const port = portOf(ports);
  if (hosts.length > 0 && (hosts.length > 1 || hosts[0] === "" || hosts[0].includes(","))) {
    // libpq's comma-separated host list is not supported: postgres.js would
    // look for one socket path with the comma in it and wait forever.
    throw invalid(
      "host",
      `Cannot connect as the URL's host parameter must name one host or socket directory, ` +
        `given once: got ${JSON.stringify(hosts)}`,
    );
  }
  return {
    url: kept.length > 0 ? `${base}?${kept.join("&")}` : base,
    ...(hosts.length > 0 ? { host: hosts[0] } : {}),
    ...(port === undefined ? {} : { port }),
  };
}

/** The `port` parameter's number; none, or one empty, means the default (as in libpq). */
function portOf(ports: readonly string[]): number | undefined {
  if (ports.length === 0 || (ports.length === 1 && ports[0] === "")) return undefined;
  const port = ports.length === 1 && /^[0-9]{1,5}$/.test(ports[0]) ? Number(ports[0]) : 0;
  if (port >= 1 && port <= 65535) return port;
  throw invalid(
    "port",
    `Cannot connect as the URL's port parameter must be one port number from 1 to 65535, ` +
      `given once: got ${JSON.stringify(ports)}`,
  );
}

function decodeParameter(key: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw invalid(
      key,
      `Cannot connect as the URL's ${key} parameter is not valid percent-encoding: got ${
        JSON.stringify(raw)
      }`,
    );
  }
}

/**
 * The directories sqlx (Tasker's driver) looks in, in order, for the socket of
 * a URL that names no host; Debian's libpq has the first compiled in.
 */
export const DEFAULT_SOCKET_DIRECTORIES: readonly string[] = [
  "/var/run/postgresql",
  "/private/tmp",
  "/tmp",
];

/** What {@link defaultSocketHost} reads of its surroundings (the real ones by default). */
export interface SocketLookup {
  /** An environment variable (`PGHOST`, `PGPORT`). */
  env(name: string): string | undefined;
  /** Whether a Unix socket exists at the path. */
  isSocket(path: string): boolean;
}

const SYSTEM: SocketLookup = {
  env: (name) => Deno.env.get(name),
  isSocket(path) {
    try {
      return Deno.statSync(path).isSocket === true;
    } catch {
      return false;
    }
  },
};

/**
 * For a URL that names no host (`postgres:///db`; a URL with a user or a
 * port but no host is not a valid URL, and is refused before this) and no
 * `?host=`, with `PGHOST` unset or empty: the first of
 * {@link DEFAULT_SOCKET_DIRECTORIES} that holds the socket of the port
 * postgres.js will use (`?port=`, else `PGPORT` as written, else 5432).
 * Undefined otherwise: postgres.js then uses `PGHOST`, or localhost over
 * TCP when no socket was found (as sqlx does). sqlx searches the same
 * directories, though for `PGPORT`'s socket whatever `?port=` says.
 *
 * @example
 * ```ts
 * import { defaultSocketHost } from "./postgres_url.ts";
 * const lookup = { env: () => undefined, isSocket: (p: string) => p === "/tmp/.s.PGSQL.5433" };
 * console.assert(defaultSocketHost("postgres:///tasker?port=5433", lookup) === "/tmp");
 * console.assert(defaultSocketHost("postgres://localhost/tasker", lookup) === undefined);
 * ```
 */
export function defaultSocketHost(url: string, lookup: SocketLookup = SYSTEM): string | undefined {
  const target = postgresTarget(url);
  const scheme = target.url.indexOf("://");
  if (target.host !== undefined || scheme < 0) return undefined;
  if (target.url.slice(scheme + 3).split(/[/?#]/)[0] !== "") return undefined; // a host is named
  const pgHost = lookup.env("PGHOST");
  if (pgHost !== undefined && pgHost !== "") return undefined; // postgres.js reads it itself
  // postgres.js puts PGPORT into the socket's path as written ("05432" stays "05432").
  const port = target.port ?? (lookup.env("PGPORT") || 5432);
  return DEFAULT_SOCKET_DIRECTORIES.find((dir) => lookup.isSocket(`${dir}/.s.PGSQL.${port}`));
}

function invalid(parameter: string, message: string): DatabaseError {
  return new DatabaseError("database_config_invalid", message, { details: { parameter } });
}
