/**
 * Tasker's parsing rules for `workflow_steps.results` (a StepExecutionResult,
 * deserialized by orchestration with serde: non-`Option` fields are required,
 * types are exact). Test and demo tooling, not product code.
 *
 * @module
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// chrono's DateTime::parse_from_rfc3339: date, "T" (or space), time, fraction, Z or offset.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Tasker's `BackoffHintType` variants (serde: the variant name as a string). */
export const BACKOFF_HINT_TYPES = [
  "ServerRequested",
  "RateLimit",
  "ServiceUnavailable",
  "Custom",
] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/**
 * Lists every reason Tasker's orchestration would fail to parse `value` as a
 * StepExecutionResult; an empty list means it parses. Checks: `step_uuid`
 * (UUID string), `success` (boolean), `result` (present), `status`
 * (string), `metadata` (`execution_time_ms` integer, `retryable` boolean,
 * `completed_at` RFC 3339, `custom` and `context` objects, the optional
 * strings), `error` (null or `{message: string, retryable: boolean, ...}`),
 * `orchestration_metadata` (null or `{headers: {string: string}, custom:
 * object, error_context?, backoff_hint?}`).
 *
 * @example
 * ```ts
 * import { checkStepExecutionResult } from "./check_step_execution_result.ts";
 * const problems = checkStepExecutionResult({ success: false, error: { message: "x" } });
 * console.assert(problems.includes("error.retryable: required boolean is missing"));
 * ```
 */
export function checkStepExecutionResult(value: unknown): string[] {
  const problems: string[] = [];
  const need = (
    path: string,
    v: unknown,
    kind: "string" | "boolean" | "object" | "integer" | "uuid" | "rfc3339" | "present",
    optional = false,
  ) => {
    if (v === undefined || (optional && v === null)) {
      if (!optional) {
        problems.push(`${path}: required ${kind === "present" ? "value" : kind} is missing`);
      }
      return;
    }
    const ok = kind === "present" ||
      (kind === "string" && typeof v === "string") ||
      (kind === "boolean" && typeof v === "boolean") ||
      (kind === "object" && isObject(v)) ||
      (kind === "integer" && Number.isSafeInteger(v)) ||
      (kind === "uuid" && typeof v === "string" && UUID.test(v)) ||
      (kind === "rfc3339" && typeof v === "string" && RFC3339.test(v) &&
        !Number.isNaN(Date.parse(v.replace(" ", "T"))));
    if (!ok) problems.push(`${path}: expected ${kind}, got ${typeName(v)}`);
  };

  if (!isObject(value)) return [`results: expected object, got ${typeName(value)}`];
  need("step_uuid", value.step_uuid, "uuid");
  need("success", value.success, "boolean");
  need("result", value.result, "present");
  need("status", value.status, "string");

  const metadata = value.metadata;
  need("metadata", metadata, "object");
  if (isObject(metadata)) {
    need("metadata.execution_time_ms", metadata.execution_time_ms, "integer");
    need("metadata.retryable", metadata.retryable, "boolean");
    need("metadata.completed_at", metadata.completed_at, "rfc3339");
    need("metadata.custom", metadata.custom, "object");
    need("metadata.context", metadata.context, "object");
    for (
      const key of ["handler_version", "worker_id", "worker_hostname", "error_code", "error_type"]
    ) {
      need(`metadata.${key}`, metadata[key], "string", true);
    }
    need("metadata.started_at", metadata.started_at, "rfc3339", true);
  }

  const error = value.error;
  if (error !== undefined && error !== null) {
    if (!isObject(error)) problems.push(`error: expected object or null, got ${typeName(error)}`);
    else {
      need("error.message", error.message, "string");
      need("error.retryable", error.retryable, "boolean");
      need("error.error_type", error.error_type, "string", true);
      if (error.backtrace !== undefined && error.backtrace !== null) {
        if (!Array.isArray(error.backtrace) || error.backtrace.some((l) => typeof l !== "string")) {
          problems.push("error.backtrace: expected array of strings or null");
        }
      }
      if (error.status_code !== undefined && error.status_code !== null) {
        const s = error.status_code;
        if (!(Number.isInteger(s) && (s as number) >= 0 && (s as number) <= 65535)) {
          problems.push(`error.status_code: expected integer 0..65535, got ${JSON.stringify(s)}`);
        }
      }
      if (error.context !== undefined) need("error.context", error.context, "object");
    }
  }

  const om = value.orchestration_metadata;
  if (om !== undefined && om !== null) {
    if (!isObject(om)) {
      problems.push(`orchestration_metadata: expected object or null, got ${typeName(om)}`);
    } else {
      need("orchestration_metadata.headers", om.headers, "object");
      if (isObject(om.headers)) {
        for (const [k, v] of Object.entries(om.headers)) {
          if (typeof v !== "string") {
            problems.push(
              `orchestration_metadata.headers.${k}: expected string, got ${typeName(v)}`,
            );
          }
        }
      }
      need("orchestration_metadata.custom", om.custom, "object");
      need("orchestration_metadata.error_context", om.error_context, "string", true);
      const hint = om.backoff_hint;
      if (hint !== undefined && hint !== null) {
        if (!isObject(hint)) {
          problems.push(
            `orchestration_metadata.backoff_hint: expected object, got ${typeName(hint)}`,
          );
        } else {
          if (!(BACKOFF_HINT_TYPES as readonly unknown[]).includes(hint.backoff_type)) {
            problems.push(
              `orchestration_metadata.backoff_hint.backoff_type: expected one of ${
                BACKOFF_HINT_TYPES.join(", ")
              }, got ${JSON.stringify(hint.backoff_type)}`,
            );
          }
          const d = hint.delay_seconds;
          if (!(Number.isInteger(d) && (d as number) >= 0 && (d as number) <= 4_294_967_295)) {
            problems.push(
              `orchestration_metadata.backoff_hint.delay_seconds: expected integer 0..4294967295, got ${
                JSON.stringify(d)
              }`,
            );
          }
          need("orchestration_metadata.backoff_hint.context", hint.context, "string", true);
        }
      }
    }
  }
  return problems;
}
