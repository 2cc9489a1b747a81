/**
 * Coded errors of the guest registry.
 *
 * @module
 */
import { WasmBrokerError, type WasmBrokerErrorOptions } from "../errors.ts";

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
export type RegistryErrorOptions = WasmBrokerErrorOptions;

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
export class RegistryError extends WasmBrokerError {
  declare readonly code: RegistryErrorCode;

  constructor(code: RegistryErrorCode, message: string, options: RegistryErrorOptions = {}) {
    super(code, message, options);
    this.name = "RegistryError";
  }
}
