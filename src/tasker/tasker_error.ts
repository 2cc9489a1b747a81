/**
 * Coded errors of the Tasker adapter (`src/tasker/`).
 *
 * Only misuse a caller can fix is thrown (a namespace Tasker would refuse, a
 * queue that does not exist). Outcomes a worker must expect — a poison message,
 * a step someone else claimed — are returned as values, never thrown.
 *
 * @module
 */
import { type ErrorCode, WasmBrokerError, type WasmBrokerErrorOptions } from "../errors.ts";

/** Stable codes of Tasker adapter failures. */
export type TaskerErrorCode =
  /** A namespace or queue name breaks Tasker's naming rules (`details.rule`). */
  | "queue_name_invalid"
  /** A pgmq queue the call needs does not exist (create it at boot). */
  | "queue_missing"
  /** A table of Tasker's schema the call needs does not exist (not migrated yet). */
  | "tasker_schema_missing";

/** Options for {@link TaskerError}. */
export type TaskerErrorOptions = WasmBrokerErrorOptions;

/**
 * A Tasker adapter call was refused; match on {@link code}, read {@link details}.
 *
 * @example
 * ```ts
 * import { TaskerError } from "./tasker_error.ts";
 * const err = new TaskerError("queue_name_invalid", "Cannot use namespace \"a-b\" as it has a \"-\"", {
 *   details: { namespace: "a-b", rule: "characters" },
 * });
 * console.assert(err.taskerCode === "queue_name_invalid" && err.details.rule === "characters");
 * ```
 */
export class TaskerError extends WasmBrokerError {
  /** The same value as `code`, typed as a {@link TaskerErrorCode}. */
  readonly taskerCode: TaskerErrorCode;

  constructor(code: TaskerErrorCode, message: string, options: TaskerErrorOptions = {}) {
    super(code satisfies ErrorCode, message, options);
    this.taskerCode = code;
    this.name = "TaskerError";
  }
}
