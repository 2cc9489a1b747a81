import assert from "node:assert/strict";
import { emptyMetrics } from "../runtime/step_outcome.ts";
import {
  type DoneMessage,
  jsonPayload,
  parseJsonPayload,
  ProtocolError,
  readOutcome,
} from "./sandbox_protocol.ts";

const ok = (outcome: unknown): DoneMessage => ({ t: "done", id: 1, outcome } as DoneMessage);
const completed = { status: "completed", error: null, metrics: emptyMetrics(), logs: [] };
const failedOutcome = {
  status: "failed",
  error: { code: "trap", message: "boom", retryable: false, details: { trap: "unreachable" } },
  metrics: emptyMetrics(),
  logs: [],
};

Deno.test("readOutcome() rebuilds a completed outcome with its result from the payload", () => {
  const outcome = readOutcome(ok(completed), jsonPayload({ a: [1, "ü"] }));
  assert.deepEqual(outcome.result, { a: [1, "ü"] });
  assert.equal(outcome.status, "completed");
  assert.equal(outcome.error, null);
});

Deno.test("readOutcome() keeps a failed outcome's coded error and ignores any payload", () => {
  const outcome = readOutcome(ok(failedOutcome), jsonPayload("ignored"));
  assert.equal(outcome.result, null);
  assert.deepEqual(outcome.error, failedOutcome.error);
});

Deno.test("readOutcome() drops a process's claim that a step never started (only the pool may say so)", () => {
  const forged = {
    ...failedOutcome,
    error: {
      code: "sandbox_crashed",
      message: "closed",
      retryable: true,
      details: { reason: "closed", started: false },
    },
  };
  const outcome = readOutcome(ok(forged), new Uint8Array());
  assert.deepEqual(outcome.error?.details, { reason: "closed" });
});

Deno.test("readOutcome() keeps a process's timed host calls only as far as they make sense", () => {
  const log = [
    { call: "io.read_input", at_us: 0, us: 12 },
    { call: "http.request", at_us: 15, us: 4000, denied: true },
    { call: "io.write_output", at_us: 1.5, us: 3 }, // not whole µs
    { call: "io.write_output", at_us: 20, us: -3 },
    { call: 7, at_us: 20, us: 3 },
    null,
    { call: "x".repeat(300), at_us: 20, us: 3 },
    { call: "io.write_output", at_us: 5000, us: 3, denied: "yes" },
    { call: "io.write_output", at_us: 6000, us: 3 }, // one more than the metrics count
    { call: "kv.get", at_us: 20, us: 3 }, // never counted
    { call: "__proto__", at_us: 20, us: 3 },
  ];
  const metrics = {
    ...emptyMetrics(),
    host_calls: { "io.read_input": 1, "http.request": 1, "io.write_output": 1 },
  };
  const outcome = readOutcome(
    ok({ ...completed, metrics, host_call_log: log }),
    jsonPayload({}),
  );
  assert.deepEqual(outcome.host_call_log, [
    { call: "io.read_input", at_us: 0, us: 12 },
    { call: "http.request", at_us: 15, us: 4000, denied: true },
    { call: "io.write_output", at_us: 5000, us: 3 },
  ]);
  const many = Array.from({ length: 500 }, () => ({ call: "io.read_input", at_us: 0, us: 1 }));
  const counted = { ...emptyMetrics(), host_calls: { "io.read_input": 500 } };
  const read = readOutcome(
    ok({ ...completed, metrics: counted, host_call_log: many }),
    jsonPayload({}),
  );
  assert.equal(read.host_call_log?.length, 64, "at most HOST_CALL_LOG_LIMIT");
  for (const bad of [undefined, "log", { length: 3 }, []]) {
    const none = readOutcome(
      ok({ ...completed, metrics: counted, host_call_log: bad }),
      jsonPayload({}),
    );
    assert.equal("host_call_log" in none, false, JSON.stringify(bad));
  }
});

Deno.test("readOutcome() refuses malformed outcomes from an untrusted sandbox", () => {
  const bad: [unknown, Uint8Array][] = [
    [null, new Uint8Array()],
    [{ ...completed, status: "done" }, jsonPayload(1)],
    [{ ...completed, metrics: [] }, jsonPayload(1)],
    [{ ...completed, logs: [1] }, jsonPayload(1)],
    [{ ...completed, error: failedOutcome.error }, jsonPayload(1)],
    [{ ...failedOutcome, error: null }, new Uint8Array()],
    [{ ...failedOutcome, error: { code: "trap", message: "x" } }, new Uint8Array()],
    [{ ...failedOutcome, error: { ...failedOutcome.error, details: "x" } }, new Uint8Array()],
    [completed, new TextEncoder().encode("{not json")],
  ];
  for (const [outcome, payload] of bad) {
    assert.throws(() => readOutcome(ok(outcome), payload), ProtocolError, JSON.stringify(outcome));
  }
});

Deno.test("jsonPayload() maps undefined to an empty payload and back", () => {
  assert.equal(jsonPayload(undefined).length, 0);
  assert.equal(parseJsonPayload(new Uint8Array()), undefined);
  assert.deepEqual(parseJsonPayload(jsonPayload({ x: null })), { x: null });
});
