/**
 * Coded errors of the guest registry.
 *
 * Temporary home: these codes belong in `ErrorCode` (src/errors.ts), and
 * {@link RegistryError} should then extend `WasmBrokerError`. Until then it
 * has the same shape (`code`, `retryable`, `details`), so callers can match
 * on `code` today and keep working after the move.
 *
 * @module
 */

/** Stable codes of registry failures. */
export type RegistryErrorCode =
  /** A name, version, range or `handler.callable` is malformed. */
  | "callable_invalid"
  /** A config schema is not a JSON object that compiles as JSON Schema (2020-12). */
  | "config_schema_invalid"
  /** That name and version are published with different content (immutability). */
  | "version_conflict"
  /** A stored module's bytes do not hash to the digest recorded at publish. */
  | "digest_mismatch"
  /** No such guest name or version, or no published version satisfies a range. */
  | "not_found"
  /** The registry on disk is damaged: unreadable metadata, a missing blob. */
  | "registry_invalid"
  /** Another publisher held the registry lock for longer than the wait allows. */
  | "registry_locked";

/** Options for {@link RegistryError}. */
export interface RegistryErrorOptions {
  /** Whether trying again could succeed. Defaults to `false`. */
  retryable?: boolean;
  /** Structured, secret-free facts about the failure. */
  details?: Record<string, unknown>;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * A registry operation was refused; match on {@link code}, read {@link details}.
 *
 * @example
 * ```ts
 * import { RegistryError } from "./registry_error.ts";
 * const err = new RegistryError("not_found", "Cannot resolve \"x\" as no guest named \"x\" is published", {
 *   details: { name: "x" },
 * });
 * console.assert(err.code === "not_found" && err.details.name === "x" && !err.retryable);
 * ```
 */
export class RegistryError extends Error {
  readonly code: RegistryErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: RegistryErrorCode, message: string, options: RegistryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RegistryError";
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}
