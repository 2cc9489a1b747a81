/**
 * Errors with stable codes. Every failure a caller can act on carries a `code`
 * from {@link ErrorCode}; tests and operators match on the code and the
 * structured fields, never on the message text.
 *
 * @module
 */

/** Stable error codes. Adding a code is fine; renaming one is a breaking change. */
export type ErrorCode =
  /** The manifest failed validation (see {@link ManifestError.issues}). */
  | "manifest_invalid"
  /** The bytes are not a well-formed WebAssembly module. */
  | "module_invalid"
  /** The guest imports something its manifest does not grant. */
  | "unknown_import"
  /** The guest's module lacks a usable entry point (`_start` or `run`). */
  | "entry_missing"
  /** The guest asked for more memory than its manifest allows. */
  | "memory_limit"
  /** The guest asked for more table elements than its manifest allows. */
  | "table_limit"
  /** The step ran past its deadline and was killed. */
  | "timeout"
  /** The guest trapped (unreachable, out of bounds, stack overflow, ...). */
  | "trap"
  /** The guest passed a pointer/length outside its memory to a host function. */
  | "bad_pointer"
  /** The guest exceeded a per-capability host-call budget. */
  | "host_call_budget"
  /** A capability policy refused an operation and the plugin chose to fail the step. */
  | "policy_fault"
  /** The guest exited with a non-zero status or reported a failure itself. */
  | "handler_error"
  /** The guest produced no output. */
  | "no_output"
  /** The output is not UTF-8 JSON or does not match the manifest's output schema. */
  | "output_invalid"
  /** The output exceeded `limits.output_bytes`. */
  | "output_too_large"
  /** The result, an error message or a log record carried a secret value. */
  | "secret_leak"
  /** The sandbox process died for a reason other than this step's deadline. */
  | "sandbox_crashed"
  /** Two capability plugins claim the same name. */
  | "plugin_conflict"
  /** A registry name, version, range or callable is malformed (`details.part`). */
  | "callable_invalid"
  /** A published config schema is not a JSON Schema 2020-12 object. */
  | "config_schema_invalid"
  /** A version is already published with different content (`details.fields`). */
  | "version_conflict"
  /** A stored module does not hash to its recorded digest: it is never run. */
  | "digest_mismatch"
  /** No such guest, version or matching version (`details.available`). */
  | "not_found"
  /** A registry record is malformed, misfiled, or its module file is missing. */
  | "registry_invalid"
  /** Another publisher held the registry lock too long (retryable). */
  | "registry_locked"
  /** A guest's source failed to compile (AssemblyScript build). */
  | "build_failed"
  /** A Tasker namespace or queue name breaks Tasker's naming rules (`details.rule`). */
  | "queue_name_invalid"
  /** A pgmq queue the call needs does not exist. */
  | "queue_missing"
  /** A table of Tasker's schema the call needs does not exist (not migrated yet). */
  | "tasker_schema_missing"
  /** The broker's configuration (file, environment or flags) is invalid (`details.issues`). */
  | "config_invalid"
  /** A bug or broken invariant in the host. */
  | "internal";

/** Options for {@link WasmBrokerError}. */
export interface WasmBrokerErrorOptions {
  /** Whether running the step again could succeed. Defaults to `false`. */
  retryable?: boolean;
  /** Structured, secret-free facts about the failure. */
  details?: Record<string, unknown>;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * Base class of every coded error this framework throws.
 *
 * @example
 * ```ts
 * import { WasmBrokerError } from "./errors.ts";
 * const err = new WasmBrokerError("timeout", "Cannot finish step as it ran past 50 ms", { retryable: true });
 * console.assert(err.code === "timeout" && err.retryable);
 * ```
 */
export class WasmBrokerError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: WasmBrokerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "WasmBrokerError";
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

/** One problem found in a manifest: a dotted path and what was wrong there. */
export interface ManifestIssue {
  /** Dotted path with `[n]` indexes, e.g. `capabilities.http.allow[2]`; empty for the root. */
  path: string;
  /** What was expected and what was found. */
  message: string;
}

/** A manifest failed validation; {@link issues} lists every problem, not just the first. */
export class ManifestError extends WasmBrokerError {
  readonly issues: readonly ManifestIssue[];

  constructor(issues: readonly ManifestIssue[], source?: string) {
    const where = source ? ` (${source})` : "";
    const lines = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
    super(
      "manifest_invalid",
      `Cannot use manifest${where} as it is invalid:\n  ${lines.join("\n  ")}`,
      {
        details: { issues },
      },
    );
    this.name = "ManifestError";
    this.issues = issues;
  }
}

/** Why an import was refused by the import audit. */
export type UnknownImportReason =
  /** The namespace is no capability at all. */
  | "unknown_namespace"
  /** The capability exists but the manifest does not grant it. */
  | "undeclared_capability"
  /** The capability has no function of that name. */
  | "unknown_function"
  /** The import has the right name but the wrong kind or signature. */
  | "signature_mismatch";

/** The guest imports something its manifest does not grant; refused before it runs. */
export class UnknownImportError extends WasmBrokerError {
  readonly module: string;
  readonly importName: string;
  readonly reason: UnknownImportReason;

  constructor(module: string, importName: string, reason: UnknownImportReason, message: string) {
    super("unknown_import", message, { details: { module, name: importName, reason } });
    this.name = "UnknownImportError";
    this.module = module;
    this.importName = importName;
    this.reason = reason;
  }
}

/**
 * Thrown by a host function to trap the guest: the step fails with {@link code}.
 * This is the "fault" outcome of a policy decision.
 */
export class GuestFault extends WasmBrokerError {
  constructor(code: ErrorCode, message: string, options: WasmBrokerErrorOptions = {}) {
    super(code, message, options);
    this.name = "GuestFault";
  }
}
