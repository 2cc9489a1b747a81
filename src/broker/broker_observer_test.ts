import assert from "node:assert/strict";
import { emptyMetrics, type StepOutcome } from "../runtime/step_outcome.ts";
import {
  type BrokerObserver,
  combineObservers,
  NOOP_OBSERVER,
  type StepLabels,
  type StepScope,
} from "./broker_observer.ts";

const LABELS: StepLabels = {
  namespace: "catalog",
  queue: "worker_catalog_queue",
  msgId: 7,
  taskUuid: "t",
  stepUuid: "s",
  correlationId: "c",
  stepName: "validate",
  callable: "catalog.validate@^1",
};

/** An observer that writes `<name>:<method>(<args>)` for every call into `calls`. */
function recorder(name: string, calls: string[], tracing?: boolean): BrokerObserver {
  const note = (method: string) => (...args: unknown[]) => {
    calls.push(`${name}:${method}(${args.map((a) => JSON.stringify(a)).join(",")})`);
  };
  const scope: StepScope = {
    tracing,
    async phase(phase, fn) {
      calls.push(`${name}:phase ${phase} {`);
      const value = await fn();
      calls.push(`${name}:phase ${phase} }`);
      return value;
    },
    claimed: note("claimed"),
    lostClaim: note("lostClaim"),
    ran: (outcome, handler) => note("ran")(outcome.status, handler.name),
    handedBack: note("handedBack"),
    reported: note("reported"),
    reportFailed: note("reportFailed"),
    reportSkipped: note("reportSkipped"),
    resultMessageNotSent: note("resultMessageNotSent"),
    end: note("end"),
  };
  return {
    read: note("read"),
    poison: note("poison"),
    notServed: note("notServed"),
    unavailable: note("unavailable"),
    databaseError: note("databaseError"),
    databaseRecovered: note("databaseRecovered"),
    visibilityExtended: note("visibilityExtended"),
    step: (labels) => {
      note("step")(labels.stepUuid);
      return scope;
    },
    lifecycle: note("lifecycle"),
    internalError: note("internalError"),
  };
}

const OUTCOME: StepOutcome = {
  status: "completed",
  result: {},
  error: null,
  metrics: emptyMetrics(),
  logs: [],
};

Deno.test("combineObservers: every call reaches each observer, in order, with its arguments", () => {
  const calls: string[] = [];
  const both = combineObservers(recorder("a", calls), recorder("b", calls));
  both.read("q", 3, "event");
  both.poison("q", 1, "bad_message", "not JSON");
  both.notServed("q", 2, "x.y@1", "unknown");
  both.unavailable("x.y@1", "digest_mismatch", "m");
  both.databaseError("read", "e");
  both.databaseRecovered("read");
  both.visibilityExtended("q", 4);
  both.lifecycle("started", { n: 1 });
  both.internalError("loop", "boom");
  const scope = both.step(LABELS);
  scope.claimed(1.5, "poll");
  scope.lostClaim("in_progress");
  scope.ran(OUTCOME, { name: "catalog.validate", version: "1.0.0", digest: "d" });
  scope.handedBack();
  scope.reported({ success: true, status: "completed", metadata: {} }, 2);
  scope.reportFailed("e", 1);
  scope.reportSkipped("complete");
  scope.resultMessageNotSent("e", 3);
  scope.end();
  const expected = [
    'read("q",3,"event")',
    'poison("q",1,"bad_message","not JSON")',
    'notServed("q",2,"x.y@1","unknown")',
    'unavailable("x.y@1","digest_mismatch","m")',
    'databaseError("read","e")',
    'databaseRecovered("read")',
    'visibilityExtended("q",4)',
    'lifecycle("started",{"n":1})',
    'internalError("loop","boom")',
    'step("s")',
    'claimed(1.5,"poll")',
    'lostClaim("in_progress")',
    'ran("completed","catalog.validate")',
    "handedBack()",
    'reported({"success":true,"status":"completed","metadata":{}},2)',
    'reportFailed("e",1)',
    'reportSkipped("complete")',
    'resultMessageNotSent("e",3)',
    "end()",
  ].flatMap((call) => [`a:${call}`, `b:${call}`]);
  assert.deepEqual(calls, expected);
  // Every method of the interface was called above (a forgotten one would be missing).
  const observerMethods = Object.keys(NOOP_OBSERVER).filter((m) => m !== "step");
  for (const method of observerMethods) assert.ok(calls.some((c) => c.startsWith(`a:${method}(`)));
  const noopScopeMethods = Object.keys(NOOP_OBSERVER.step(LABELS)).filter((m) => m !== "phase");
  for (const method of noopScopeMethods) assert.ok(calls.some((c) => c.startsWith(`a:${method}(`)));
});

Deno.test("combineObservers: phases nest with the first observer outermost and return the value", async () => {
  const calls: string[] = [];
  const scope = combineObservers(recorder("a", calls), recorder("b", calls)).step(LABELS);
  const value = await scope.phase("worker.claim", () => {
    calls.push("run");
    return Promise.resolve(42);
  });
  assert.equal(value, 42);
  assert.deepEqual(calls, [
    'a:step("s")',
    'b:step("s")',
    "a:phase worker.claim {",
    "b:phase worker.claim {",
    "run",
    "b:phase worker.claim }",
    "a:phase worker.claim }",
  ]);
});

Deno.test("combineObservers: a phase that fails rejects through every scope", async () => {
  const calls: string[] = [];
  const scope = combineObservers(recorder("a", calls), recorder("b", calls)).step(LABELS);
  await assert.rejects(
    scope.phase("worker.report", () => Promise.reject(new Error("db down"))),
    /db down/,
  );
  assert.deepEqual(calls.slice(2), ["a:phase worker.report {", "b:phase worker.report {"]);
});

Deno.test("combineObservers: spans are recorded when any scope records them", () => {
  const calls: string[] = [];
  const tracing = (a?: boolean, b?: boolean) =>
    combineObservers(recorder("a", calls, a), recorder("b", calls, b)).step(LABELS).tracing;
  assert.equal(tracing(undefined, undefined), false);
  assert.equal(tracing(false, false), false);
  assert.equal(tracing(false, true), true);
  assert.equal(tracing(true, undefined), true);
});

Deno.test("combineObservers: one observer is returned as it is", () => {
  const only = recorder("a", []);
  assert.equal(combineObservers(only), only);
});
