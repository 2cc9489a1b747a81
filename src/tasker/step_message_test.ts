import assert from "node:assert/strict";
import { isUuid, parseNotifyPayload, parseStepMessage } from "./step_message.ts";

const TASK = "0190a8b2-1c2d-7e3f-8a4b-5c6d7e8f9a01";
const STEP = "0190a8b2-1c2d-7e3f-8a4b-5c6d7e8f9a02";
const CORR = "0190a8b2-1c2d-7e3f-8a4b-5c6d7e8f9a03";

Deno.test("parseStepMessage() accepts Tasker's step message", () => {
  const parsed = parseStepMessage({ task_uuid: TASK, step_uuid: STEP, correlation_id: CORR });
  assert.deepEqual(parsed, {
    ok: true,
    message: { task_uuid: TASK, step_uuid: STEP, correlation_id: CORR },
  });
});

Deno.test("parseStepMessage() lowercases UUIDs and keeps only the three fields", () => {
  const parsed = parseStepMessage({
    task_uuid: TASK.toUpperCase(),
    step_uuid: STEP,
    correlation_id: CORR,
    extra: { from: "a newer Tasker" },
  });
  assert.deepEqual(parsed, {
    ok: true,
    message: { task_uuid: TASK, step_uuid: STEP, correlation_id: CORR },
  });
});

Deno.test("parseStepMessage() parses a double-encoded (string) body", () => {
  const body = JSON.stringify({ task_uuid: TASK, step_uuid: STEP, correlation_id: CORR });
  const parsed = parseStepMessage(body);
  assert.ok(parsed.ok);
  assert.equal(parsed.message.step_uuid, STEP);
});

Deno.test("parseStepMessage() accepts any UUID version, the nil UUID included", () => {
  for (
    const uuid of [
      "00000000-0000-0000-0000-000000000000",
      "123e4567-e89b-12d3-a456-426614174000",
      "f47ac10b-58cc-4372-a567-0e02b2c3d479",
    ]
  ) {
    assert.ok(parseStepMessage({ task_uuid: uuid, step_uuid: uuid, correlation_id: uuid }).ok);
  }
});

Deno.test("parseStepMessage() names the poison reason and field", () => {
  const good = { task_uuid: TASK, step_uuid: STEP, correlation_id: CORR };
  const cases: [unknown, string, string | undefined][] = [
    ["{not json", "not_json", undefined],
    ["", "not_json", undefined],
    [null, "not_object", undefined],
    [[good], "not_object", undefined],
    [42, "not_object", undefined],
    [true, "not_object", undefined],
    ['"a string"', "not_object", undefined],
    [{}, "missing_field", "task_uuid"],
    [{ task_uuid: TASK }, "missing_field", "step_uuid"],
    [{ task_uuid: TASK, step_uuid: STEP }, "missing_field", "correlation_id"],
    [{ ...good, step_uuid: 7 }, "not_string", "step_uuid"],
    [{ ...good, correlation_id: null }, "not_string", "correlation_id"],
    [{ ...good, task_uuid: "not-a-uuid" }, "bad_uuid", "task_uuid"],
    [{ ...good, step_uuid: STEP.replaceAll("-", "") }, "bad_uuid", "step_uuid"],
    [{ ...good, step_uuid: `{${STEP}}` }, "bad_uuid", "step_uuid"],
    [{ ...good, step_uuid: `${STEP} ` }, "bad_uuid", "step_uuid"],
    [
      { ...good, correlation_id: "0190a8b2-1c2d-7e3f-8a4b-5c6d7e8f9a0g" },
      "bad_uuid",
      "correlation_id",
    ],
  ];
  for (const [body, reason, field] of cases) {
    const parsed = parseStepMessage(body);
    assert.equal(parsed.ok, false, JSON.stringify(body));
    if (parsed.ok) continue;
    assert.equal(parsed.reason, reason, JSON.stringify(body));
    assert.equal(parsed.field, field, JSON.stringify(body));
    assert.ok(parsed.detail.length > 0);
  }
});

Deno.test("isUuid() is the same check parseStepMessage() applies", () => {
  assert.ok(isUuid(STEP));
  assert.ok(!isUuid(STEP.slice(1)));
  assert.ok(!isUuid(undefined));
});

Deno.test("parseNotifyPayload() reads the three event types of pgmq_send_with_notify", () => {
  const withPayload = parseNotifyPayload(JSON.stringify({
    event_type: "message_with_payload",
    msg_id: 12,
    queue_name: "worker_catalog_queue",
    namespace: "catalog",
    message: { task_uuid: TASK, step_uuid: STEP, correlation_id: CORR },
    ready_at: "2025-01-01T00:00:00+00:00",
    delay_seconds: 0,
  }));
  assert.deepEqual(withPayload, {
    ok: true,
    event: {
      type: "message_with_payload",
      msgId: 12,
      queueName: "worker_catalog_queue",
      namespace: "catalog",
      message: { task_uuid: TASK, step_uuid: STEP, correlation_id: CORR },
      delaySeconds: 0,
    },
  });
  const ready = parseNotifyPayload(JSON.stringify({
    event_type: "message_ready",
    msg_id: "13",
    queue_name: "worker_catalog_queue",
    namespace: "catalog",
    payload_omitted: true,
    truncated: true,
  }));
  assert.deepEqual(ready, {
    ok: true,
    event: {
      type: "message_ready",
      msgId: 13,
      queueName: "worker_catalog_queue",
      namespace: "catalog",
    },
  });
  const batch = parseNotifyPayload(JSON.stringify({
    event_type: "batch_ready",
    msg_ids: [1, 2, 3],
    queue_name: "worker_catalog_queue",
    message_count: 3,
  }));
  assert.deepEqual(batch, {
    ok: true,
    event: { type: "batch_ready", msgIds: [1, 2, 3], queueName: "worker_catalog_queue" },
  });
});

Deno.test("parseNotifyPayload() tolerates odd optional values but needs type, queue and id", () => {
  const odd = parseNotifyPayload(JSON.stringify({
    event_type: "message_with_payload",
    msg_id: 1,
    queue_name: "q",
    message: { a: 1 },
    delay_seconds: "soon",
  }));
  assert.deepEqual(odd, {
    ok: true,
    event: { type: "message_with_payload", msgId: 1, queueName: "q", message: { a: 1 } },
  });
  // A payload event without its payload is a plain "message ready".
  assert.deepEqual(
    parseNotifyPayload(
      JSON.stringify({ event_type: "message_with_payload", msg_id: 2, queue_name: "q" }),
    ),
    { ok: true, event: { type: "message_ready", msgId: 2, queueName: "q" } },
  );
  for (
    const payload of [
      "not json",
      "[]",
      JSON.stringify({ event_type: "queue_created", queue_name: "q" }),
      JSON.stringify({ event_type: "message_ready", queue_name: "q" }),
      JSON.stringify({ event_type: "message_ready", msg_id: -1, queue_name: "q" }),
      JSON.stringify({ event_type: "message_ready", msg_id: 1 }),
      JSON.stringify({ event_type: "batch_ready", msg_ids: "1,2", queue_name: "q" }),
    ]
  ) {
    const parsed = parseNotifyPayload(payload);
    assert.equal(parsed.ok, false, payload);
    assert.ok(!parsed.ok && parsed.detail.length > 0);
  }
});
