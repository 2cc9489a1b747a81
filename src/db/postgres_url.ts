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
 * Takes the libpq `host` and `port` parameters out of `url` (an empty `port`
 * means the default, as in libpq).
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
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url }; // postgres.js reports a malformed URL in its own words
  }
  const ports = parsed.searchParams.getAll("port");
  let port: number | undefined;
  if (ports.length > 1 || (ports.length === 1 && ports[0] !== "")) {
    port = ports.length === 1 && /^[0-9]{1,5}$/.test(ports[0]) ? Number(ports[0]) : 0;
    if (port < 1 || port > 65535) {
      throw new DatabaseError(
        "database_config_invalid",
        `Cannot connect as the URL's port parameter must be one port number from 1 to 65535, ` +
          `given once: got ${JSON.stringify(ports)}`,
        { details: { parameter: "port" } },
      );
    }
  }
  parsed.searchParams.delete("port");
  const withPort = port === undefined ? {} : { port };
  const hosts = parsed.searchParams.getAll("host");
  if (hosts.length === 0) {
    return ports.length > 0 ? { url: parsed.toString(), ...withPort } : { url };
  }
  if (hosts.length > 1 || hosts[0] === "" || hosts[0].includes(",")) {
    // libpq's comma-separated host list is not supported: postgres.js would
    // look for one socket path with the comma in it and wait forever.
    throw new DatabaseError(
      "database_config_invalid",
      `Cannot connect as the URL's host parameter must name one host or socket directory, ` +
        `given once: got ${JSON.stringify(hosts)}`,
      { details: { parameter: "host" } },
    );
  }
  parsed.searchParams.delete("host");
  return { url: parsed.toString(), host: hosts[0], ...withPort };
}
