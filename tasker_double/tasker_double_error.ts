/**
 * The one error class of the Tasker test double (test and demo tooling, not
 * product code). Codes are stable so tests match on them, never on text.
 *
 * @module
 */

/** Stable codes of {@link TaskerDoubleError}. */
export type TaskerDoubleErrorCode =
  /** Schema `tasker` already holds tables the double did not install (a real Tasker database?). */
  | "schema_conflict"
  /** A task template failed validation (`details.issues` names each field). */
  | "template_invalid"
  /** No registered template has that namespace, name and version. */
  | "template_not_found"
  /** No task with that uuid. */
  | "task_not_found"
  /** A task did not reach a terminal state before the deadline. */
  | "task_timeout"
  /** The simulator's input (context, options) is unusable. */
  | "input_invalid";

/**
 * An error of the Tasker double with a stable {@link code} and structured details.
 *
 * @example
 * ```ts
 * import { TaskerDoubleError } from "./tasker_double_error.ts";
 * const err = new TaskerDoubleError("task_not_found", "Cannot find task as it does not exist: x");
 * console.assert(err.code === "task_not_found");
 * ```
 */
export class TaskerDoubleError extends Error {
  readonly code: TaskerDoubleErrorCode;
  readonly details: Record<string, unknown>;

  constructor(
    code: TaskerDoubleErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TaskerDoubleError";
    this.code = code;
    this.details = options.details ?? {};
  }
}
