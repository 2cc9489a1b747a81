import assert from "node:assert/strict";
import { startTestDatabase } from "../../tests/support/database_harness.ts";
import { builtinPlugins } from "../../plugins/builtin_plugins.ts";
import {
  checkAddress,
  checkUrl,
  compileHttpPolicy,
  type HttpPolicy,
} from "../../plugins/http/mod.ts";
import { CapabilityRegistry } from "../../src/capability/capability_registry.ts";
import { parseManifest } from "../../src/manifest/manifest.ts";
import { FakeWorker } from "../_fake_worker.ts";
import { OrchestrationSimulator, type TaskReport } from "../orchestration_simulator.ts";
import { startDemoReceiver } from "./demo_receiver.ts";
import { nativeCatalogHandlers } from "./_native_handlers.ts";
import { DEMO_RECEIVER_PORT, loadWorkflow, WORKFLOW_NAMES } from "./load_workflow.ts";

/**
 * Runs one workflow with one of its sample contexts through the simulator,
 * every step executed by the catalog's native build, HTTP to a real loopback
 * receiver (the demo port rewritten to the receiver's free port).
 */
async function runWorkflow(
  name: string,
  contextName = "context",
): Promise<{ report: TaskReport; hooks: unknown[] }> {
  const workflow = await loadWorkflow(name);
  const db = await startTestDatabase();
  const receiver = await startDemoReceiver({ port: 0 });
  const fetchFn: typeof fetch = (input, init) =>
    fetch(
      String(input).replace(`127.0.0.1:${DEMO_RECEIVER_PORT}`, `127.0.0.1:${receiver.port}`),
      init,
    );
  const sim = new OrchestrationSimulator(db.client, { pollMs: 20, maxRetryDelaySeconds: 0 });
  const stop = new AbortController();
  const running = sim.run({ signal: stop.signal });
  try {
    await sim.registerTemplate(workflow.template);
    const { taskUuid } = await sim.createTask({
      name: workflow.template.name,
      context: workflow.contexts[contextName],
    });
    const worker = new FakeWorker(db.client, { handlers: nativeCatalogHandlers(fetchFn) });
    let report = await sim.taskReport(taskUuid);
    const deadline = Date.now() + 30_000;
    while (report.state !== "complete" && report.state !== "error") {
      assert.ok(Date.now() < deadline, `${name} did not finish: ${JSON.stringify(report)}`);
      if ((await worker.poll()).length === 0) await new Promise((r) => setTimeout(r, 20));
      report = await sim.taskReport(taskUuid);
    }
    assert.deepEqual(sim.violations(), []);
    return { report, hooks: receiver.hooks };
  } finally {
    stop.abort();
    await running;
    await receiver.close();
    await db.close();
  }
}

function step(report: TaskReport, name: string) {
  const s = report.steps.find((x) => x.name === name);
  assert.ok(s, `no step ${name}: ${report.steps.map((x) => x.name).join(", ")}`);
  return s;
}

Deno.test("every example workflow loads and its sample context is an object", async () => {
  for (const name of WORKFLOW_NAMES) {
    const wf = await loadWorkflow(name);
    assert.equal(wf.template.name, name);
    assert.equal(wf.template.namespace_name, "catalog");
    assert.ok(wf.template.steps.every((s) => s.handler.callable.startsWith("catalog.")));
    assert.equal(typeof wf.contexts.context, "object");
  }
});

Deno.test("order_pipeline: a small order is validated, priced, checked and auto-approved", async () => {
  const { report } = await runWorkflow("order_pipeline");
  assert.equal(report.state, "complete");
  assert.deepEqual(report.steps.map((s) => s.name), [
    "validate_order",
    "price_order",
    "check_totals",
    "route_order",
    "auto_approve",
  ]);
  assert.deepEqual(step(report, "price_order").result, {
    order_id: "ord-1001",
    currency: "EUR",
    lines: [{ sku: "A-1", qty: 2, amount: 39 }, { sku: "B-2", qty: 1, amount: 120 }],
    total: 159,
  });
  assert.deepEqual(step(report, "auto_approve").result, {
    order_id: "ord-1001",
    route: "auto_approve",
    total: 159,
  });
});

Deno.test("order_pipeline: a large order goes to manual review", async () => {
  const { report } = await runWorkflow("order_pipeline", "context_large");
  assert.equal(report.state, "complete");
  assert.deepEqual(step(report, "manual_review").result, {
    order_id: "ord-1002",
    route: "manual_review",
    total: 1200,
    reason: "total above 1000",
  });
  assert.ok(!report.steps.some((s) => s.name === "auto_approve"));
});

Deno.test("order_pipeline: an invalid order fails validation once and the task errors", async () => {
  const { report } = await runWorkflow("order_pipeline", "context_invalid");
  assert.equal(report.state, "error");
  const v = step(report, "validate_order");
  assert.deepEqual([v.state, v.attempts, v.errorCode], ["error", 1, "validation_failed"]);
  assert.equal(report.steps.length, 4, "nothing after the failed step ran");
  assert.equal(step(report, "price_order").state, "pending");
});

Deno.test("fan_out_report: batch workers summarize their cursor slices and the convergence steps total them", async () => {
  const { report } = await runWorkflow("fan_out_report");
  assert.equal(report.state, "complete");
  assert.deepEqual(report.steps.map((s) => s.name), [
    "split_orders",
    "summarize_batch_001",
    "summarize_batch_002",
    "summarize_batch_003",
    "total_revenue",
    "order_count",
  ]);
  assert.deepEqual(step(report, "summarize_batch_003").result, {
    batch_id: "003",
    count: 1,
    revenue: 100,
  });
  const orders = ((await loadWorkflow("fan_out_report")).contexts.context as {
    orders: { amount: number }[];
  }).orders;
  const batches = [orders.slice(0, 3), orders.slice(3, 6), orders.slice(6)].map((b) =>
    b.reduce((s, o) => s + o.amount, 0)
  );
  assert.deepEqual(step(report, "total_revenue").result, {
    result: batches[0] + batches[1] + batches[2],
    count: 3,
    // Every ancestor, nearest first and in creation order (UUID v7), as Tasker hands them over.
    steps: ["summarize_batch_001", "summarize_batch_002", "summarize_batch_003", "split_orders"],
  });
  assert.equal((step(report, "order_count").result as { result: number }).result, 7);
});

Deno.test("approval_notify: an approved request is announced through the webhook", async () => {
  const { report, hooks } = await runWorkflow("approval_notify");
  assert.equal(report.state, "complete");
  assert.deepEqual(step(report, "notify_requester").result, { delivered: true, status: 200 });
  assert.equal(hooks.length, 1);
  const hook = hooks[0] as { path: string; headers: Record<string, string>; body: unknown };
  assert.equal(hook.path, "/hooks/approvals");
  assert.equal(hook.headers["idempotency-key"], "req-42-approved");
  assert.deepEqual(hook.body, {
    text: "Request req-42 (New laptop) was approved by ann@example.com",
    request: { id: "req-42", title: "New laptop", amount: 1800 },
  });
});

Deno.test("approval_notify: without an approval the gate polls until max_attempts, then the task errors", async () => {
  const { report, hooks } = await runWorkflow("approval_notify", "context_pending");
  assert.equal(report.state, "error");
  const gate = step(report, "approval_gate");
  assert.deepEqual([gate.state, gate.attempts, gate.errorCode], ["error", 3, "approval_pending"]);
  assert.equal(hooks.length, 0);
});

Deno.test("customer_offer: a gold customer fetched over HTTP gets the gold offer", async () => {
  const { report } = await runWorkflow("customer_offer");
  assert.equal(report.state, "complete");
  assert.deepEqual(step(report, "fetch_customer").result, {
    id: "c-1007",
    name: "Eli",
    tier: "gold",
  });
  assert.deepEqual(step(report, "gold_offer").result, {
    customer: "Eli",
    offer: "20% off and free shipping",
  });
});

Deno.test("customer_offer: a silver customer gets the standard offer", async () => {
  const { report } = await runWorkflow("customer_offer", "context_standard");
  assert.equal(report.state, "complete");
  assert.ok(report.steps.some((s) => s.name === "standard_offer"));
  assert.ok(!report.steps.some((s) => s.name === "gold_offer"));
});

Deno.test("demo_broker_config.json grants valid manifests that admit exactly the demo's URLs", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("./demo_broker_config.json", import.meta.url)),
  ) as { grants: Record<string, unknown> };
  assert.deepEqual(Object.keys(config.grants).sort(), ["catalog.http_request", "catalog.notify"]);
  const registry = new CapabilityRegistry(builtinPlugins());
  const allowed = (callable: string, url: string, method: string) => {
    const manifest = parseManifest(config.grants[callable], registry);
    const policy = compileHttpPolicy(
      (manifest.capabilities as Record<string, unknown>).http as HttpPolicy,
    );
    const decision = checkUrl(url, policy);
    return decision.allowed && policy.methods.has(method) &&
      checkAddress("127.0.0.1", policy.grants).allowed;
  };
  const base = `http://127.0.0.1:${DEMO_RECEIVER_PORT}`;
  assert.ok(allowed("catalog.notify", `${base}/hooks/approvals`, "POST"));
  assert.ok(allowed("catalog.http_request", `${base}/api/customers/c-1007`, "GET"));
  assert.ok(!allowed("catalog.notify", `${base}/api/customers/c-1007`, "POST"));
  assert.ok(!allowed("catalog.http_request", `${base}/hooks/approvals`, "GET"));
  assert.ok(!allowed("catalog.notify", `http://127.0.0.1:18090/hooks/approvals`, "POST"));
  // The workflows use exactly these URLs.
  const notify = (await loadWorkflow("approval_notify")).template.steps[1].handler.initialization;
  assert.equal(notify.url, `${base}/hooks/approvals`);
  const fetchStep = (await loadWorkflow("customer_offer")).template.steps[1].handler.initialization;
  assert.equal(fetchStep.url, `${base}/api/customers/\${context.customer_id}`);
});

Deno.test("fan_out_report: an empty order list creates Tasker's no-op placeholder worker and totals nothing", async () => {
  // Tasker names the placeholder from the batchable step's handler.initialization.worker_template_name.
  const { report } = await runWorkflow("fan_out_report", "context_empty");
  assert.equal(report.state, "complete", JSON.stringify(report));
  assert.deepEqual(report.steps.map((s) => s.name), [
    "split_orders",
    "summarize_batch_000",
    "total_revenue",
    "order_count",
  ]);
  assert.deepEqual(step(report, "split_orders").result, {
    batch_processing_outcome: { type: "no_batches" },
  });
  assert.deepEqual(step(report, "summarize_batch_000").result, {
    batch_id: "000",
    count: 0,
    revenue: 0,
  });
  assert.equal((step(report, "total_revenue").result as { result: number }).result, 0);
  assert.equal((step(report, "order_count").result as { result: number }).result, 0);
});
