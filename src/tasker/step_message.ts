/**
 * Parsing what arrives on a step queue: the message body
 * `{"task_uuid", "step_uuid", "correlation_id"}` and the NOTIFY payloads of
 * Tasker's `pgmq_send_with_notify`.
 *
 * A body that cannot be acted on is poison: the broker archives it with the
 * reason returned here, so these functions never throw.
 *
 * @module
 */
import { z } from "zod";

/** A step message: which step of which task to run. UUIDs are lowercase. */
export interface StepMessage {
  task_uuid: string;
  step_uuid: string;
  correlation_id: string;
}

/** Why a body is poison. */
export type PoisonReason =
  /** A text body that is not JSON. */
  | "not_json"
  /** JSON, but not an object (array, string, number, null). */
  | "not_object"
  /** A required field is absent (`field` names it). */
  | "missing_field"
  /** A field is not a string (`field` names it). */
  | "not_string"
  /** A field is a string but not a UUID (`field` names it). */
  | "bad_uuid";

/** The result of {@link parseStepMessage}. */
export type ParsedStepMessage =
  | { ok: true; message: StepMessage }
  | { ok: false; reason: PoisonReason; field?: keyof StepMessage; detail: string };

/**
 * Any 8-4-4-4-12 hex UUID, as a pattern for JavaScript and PostgreSQL (`~`)
 * alike: Tasker's Rust side accepts every version (v7 in practice) and the
 * nil UUID, so no version or variant check here.
 */
export const UUID_PATTERN =
  "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
const UUID = new RegExp(UUID_PATTERN);

/** True when `value` is a hyphenated hex UUID (any version, any case). */
export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}

const FIELDS = ["task_uuid", "step_uuid", "correlation_id"] as const;

/**
 * Parses a step message body (pgmq's `message` column, already parsed from
 * jsonb; a string body is parsed as JSON text first, for producers that
 * double-encode). Extra fields are ignored: they do not stop the broker from
 * acting on the step, and archiving a real step message because a newer
 * Tasker added a field would stall its workflow.
 *
 * @example
 * ```ts
 * import { parseStepMessage } from "./step_message.ts";
 * const ok = parseStepMessage({
 *   task_uuid: "0190a8b2-0000-7000-8000-000000000001",
 *   step_uuid: "0190a8b2-0000-7000-8000-000000000002",
 *   correlation_id: "0190a8b2-0000-7000-8000-000000000003",
 * });
 * console.assert(ok.ok && ok.message.step_uuid.endsWith("02"));
 * const bad = parseStepMessage({ task_uuid: "x" });
 * console.assert(!bad.ok && bad.reason === "bad_uuid" && bad.field === "task_uuid");
 * ```
 */
export function parseStepMessage(body: unknown): ParsedStepMessage {
  let value = body;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      return { ok: false, reason: "not_json", detail: "the body is text that is not JSON" };
    }
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return {
      ok: false,
      reason: "not_object",
      detail: `expected a JSON object, got ${describe(value)}`,
    };
  }
  const record = value as Record<string, unknown>;
  const message: Partial<StepMessage> = {};
  for (const field of FIELDS) {
    const v = record[field];
    if (v === undefined) {
      return { ok: false, reason: "missing_field", field, detail: `${field} is missing` };
    }
    if (typeof v !== "string") {
      return {
        ok: false,
        reason: "not_string",
        field,
        detail: `${field}: expected a UUID string, got ${describe(v)}`,
      };
    }
    if (!UUID.test(v)) {
      return {
        ok: false,
        reason: "bad_uuid",
        field,
        detail: `${field}: expected a UUID, got ${JSON.stringify(v.slice(0, 60))}`,
      };
    }
    message[field] = v.toLowerCase();
  }
  return { ok: true, message: message as StepMessage };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : typeof value;
}

/** A NOTIFY from `pgmq_send_with_notify`, normalized. */
export type NotifyEvent =
  /** A message small enough to ride along (< 7000 bytes). */
  | {
    type: "message_with_payload";
    msgId: number;
    queueName: string;
    namespace?: string;
    message: unknown;
    delaySeconds?: number;
  }
  /** A message whose body was left out (too large): read it from the queue. */
  | { type: "message_ready"; msgId: number; queueName: string; namespace?: string }
  /** Several messages sent at once. */
  | { type: "batch_ready"; msgIds: number[]; queueName: string; namespace?: string };

/** The result of {@link parseNotifyPayload}. */
export type ParsedNotify = { ok: true; event: NotifyEvent } | { ok: false; detail: string };

const msgId = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/)]).transform(
  Number,
);
const common = { queue_name: z.string().min(1), namespace: z.string().optional() };
const NotifySchema = z.discriminatedUnion("event_type", [
  z.looseObject({
    event_type: z.literal("message_with_payload"),
    msg_id: msgId,
    ...common,
    message: z.unknown().optional(),
    delay_seconds: z.number().optional().catch(undefined),
  }),
  z.looseObject({ event_type: z.literal("message_ready"), msg_id: msgId, ...common }),
  z.looseObject({ event_type: z.literal("batch_ready"), msg_ids: z.array(msgId), ...common }),
]);

/**
 * Parses a NOTIFY payload from `pgmq_send_with_notify`. Tolerant: unknown
 * fields and unknown optional values are ignored; only what a consumer needs
 * (event type, queue, message id(s)) is required. NOTIFY is a hint — a payload
 * that does not parse just means "poll now".
 *
 * @example
 * ```ts
 * import { parseNotifyPayload } from "./step_message.ts";
 * const parsed = parseNotifyPayload(
 *   '{"event_type":"message_ready","msg_id":7,"queue_name":"worker_catalog_queue","namespace":"catalog"}',
 * );
 * console.assert(parsed.ok && parsed.event.type === "message_ready" && parsed.event.msgId === 7);
 * ```
 */
export function parseNotifyPayload(payload: string): ParsedNotify {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return { ok: false, detail: "the payload is not JSON" };
  }
  const parsed = NotifySchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, detail: `${issue.path.join(".") || "payload"}: ${issue.message}` };
  }
  const v = parsed.data;
  const base = {
    queueName: v.queue_name,
    ...(v.namespace !== undefined ? { namespace: v.namespace } : {}),
  };
  switch (v.event_type) {
    case "message_with_payload":
      // Without its payload the event says no more than message_ready.
      if (v.message === undefined) {
        return { ok: true, event: { type: "message_ready", msgId: v.msg_id, ...base } };
      }
      return {
        ok: true,
        event: {
          type: v.event_type,
          msgId: v.msg_id,
          ...base,
          message: v.message,
          ...(v.delay_seconds !== undefined ? { delaySeconds: v.delay_seconds } : {}),
        },
      };
    case "message_ready":
      return { ok: true, event: { type: v.event_type, msgId: v.msg_id, ...base } };
    case "batch_ready":
      return { ok: true, event: { type: v.event_type, msgIds: v.msg_ids, ...base } };
  }
}
