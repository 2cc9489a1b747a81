/**
 * Coded errors of the database layer (`src/db`): connecting, installing
 * pgmq, opening the embedded database. Callers match on {@link DatabaseError.code}
 * and {@link DatabaseError.details}, never on the message text.
 *
 * @module
 */

/** Stable codes of {@link DatabaseError}. Adding one is fine; renaming one is a breaking change. */
export type DatabaseErrorCode =
  /** The server cannot be reached or did not answer in time (retryable). */
  | "database_unavailable"
  /** pgmq is not installed on a real server; `deno task db:setup` installs it (`details.fix`). */
  | "pgmq_missing"
  /** Installing pgmq failed (`details.method`). */
  | "pgmq_install_failed"
  /** Another live process holds the embedded database's data dir (`details.pid`, `details.lockFile`). */
  | "data_dir_locked"
  /** An option or environment value is malformed (`details.field`). */
  | "database_config_invalid";

/** Options for {@link DatabaseError}. */
export interface DatabaseErrorOptions {
  /** Structured, secret-free facts about the failure. */
  details?: Record<string, unknown>;
  /** The underlying error. */
  cause?: unknown;
  /** Whether trying again later could succeed. Defaults to `false`. */
  retryable?: boolean;
}

/**
 * A failure of the database layer with a stable {@link DatabaseErrorCode}.
 *
 * @example
 * ```ts
 * import { DatabaseError } from "./database_error.ts";
 * const err = new DatabaseError("pgmq_missing", "Cannot use the database as pgmq is not installed", {
 *   details: { fix: "deno task db:setup" },
 * });
 * console.assert(err.code === "pgmq_missing" && err.details.fix === "deno task db:setup");
 * ```
 */
export class DatabaseError extends Error {
  readonly code: DatabaseErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: DatabaseErrorCode, message: string, options: DatabaseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "DatabaseError";
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

/** SQLSTATEs that mean "the server is going away or not accepting you yet", not "the statement is wrong". */
const UNAVAILABLE_STATES = new Set(["57P01", "57P02", "57P03", "53300"]);

/**
 * Whether `error` means the database could not be reached (worth retrying
 * later): a {@link DatabaseError} coded `database_unavailable`, a connection
 * exception (SQLSTATE class 08), a shutdown or startup in progress (57P01,
 * 57P02, 57P03) or too many connections (53300).
 *
 * @example
 * ```ts
 * import { DatabaseError, isDatabaseUnavailable } from "./database_error.ts";
 * console.assert(isDatabaseUnavailable(new DatabaseError("database_unavailable", "down")));
 * console.assert(isDatabaseUnavailable({ code: "57P01" }));
 * console.assert(!isDatabaseUnavailable({ code: "23505" }));
 * ```
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (error instanceof DatabaseError) return error.code === "database_unavailable";
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code.startsWith("08") || UNAVAILABLE_STATES.has(code));
}
