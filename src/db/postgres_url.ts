/**
 * libpq's way to name a Unix-domain socket in a connection URL, for
 * postgres.js, which does not understand it.
 *
 * `postgres://user@localhost/db?host=/var/run/postgresql` means "the socket in
 * /var/run/postgresql" to libpq (psql, Tasker's sqlx, pgbench); postgres.js
 * would send `host` to the server as a setting and fail with `unrecognized
 * configuration parameter "host"`. On the same machine the socket is the
 * cheaper way in: 90.7 µs a round trip against 138.5 µs over loopback TCP
 * (bench/postgres_round_trip_bench.ts, docs/operations.md).
 *
 * @module
 */
import { DatabaseError } from "./database_error.ts";

/** A URL for postgres.js and, when the URL named one, the socket directory (or host) apart. */
export interface PostgresTarget {
  /** The URL without its `host` parameter. */
  url: string;
  /** The `host` parameter's value: a directory (Unix socket) or a host name; absent when not given. */
  host?: string;
}

/**
 * Takes the libpq `host` parameter out of `url`.
 *
 * @example
 * ```ts
 * import { postgresTarget } from "./postgres_url.ts";
 * const t = postgresTarget("postgres://tasker@localhost/tasker?host=/var/run/postgresql&sslmode=disable");
 * console.assert(t.host === "/var/run/postgresql");
 * console.assert(t.url === "postgres://tasker@localhost/tasker?sslmode=disable");
 * ```
 */
export function postgresTarget(url: string): PostgresTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url }; // postgres.js reports a malformed URL in its own words
  }
  const hosts = parsed.searchParams.getAll("host");
  if (hosts.length === 0) return { url };
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
  return { url: parsed.toString(), host: hosts[0] };
}
