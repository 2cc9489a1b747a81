import assert from "node:assert/strict";
import { initialStepNames, parseTaskTemplate, type TemplateIssue } from "./task_template.ts";
import { TaskerDoubleError } from "./tasker_double_error.ts";

const handler = { callable: "catalog.transform", initialization: { filter: "." } };

function issuesOf(input: unknown): TemplateIssue[] {
  try {
    parseTaskTemplate(input);
  } catch (e) {
    assert.ok(e instanceof TaskerDoubleError && e.code === "template_invalid");
    return e.details.issues as TemplateIssue[];
  }
  assert.fail("expected template_invalid");
}

Deno.test("parseTaskTemplate() fills Tasker's defaults", () => {
  const t = parseTaskTemplate({
    name: "t",
    namespace_name: "catalog",
    version: "1.0.0",
    steps: [{ name: "a", handler: { callable: "x" } }],
  });
  assert.deepEqual(t.steps[0], {
    name: "a",
    type: "standard",
    handler: { callable: "x", initialization: {} },
    dependencies: [],
    retry: {
      retryable: true,
      max_attempts: 3,
      backoff: "exponential",
      backoff_base_ms: 1000,
      max_backoff_ms: 30_000,
    },
  });
});

Deno.test("parseTaskTemplate() names the field of each shape error", () => {
  const issues = issuesOf({
    name: "t",
    namespace_name: "has-dash",
    version: "1",
    steps: [
      { name: "a", handler: { initialization: {} }, dependancies: [] },
      { name: "b", type: "parallel", handler, retry: { max_attempts: 0 } },
    ],
  });
  const byPath = Object.fromEntries(issues.map((i) => [i.path, i.message]));
  assert.match(byPath["namespace_name"], /A-Z, a-z, 0-9 and _/);
  assert.equal(byPath["steps[0].handler.callable"], "required string is missing");
  assert.equal(byPath["steps[0].dependancies"], "unknown key");
  assert.match(byPath["steps[1].type"], /expected one of "standard", "decision"/);
  assert.match(byPath["steps[1].retry.max_attempts"], /got 0/);
});

Deno.test("parseTaskTemplate() checks the dependency graph", () => {
  const issues = issuesOf({
    name: "t",
    namespace_name: "catalog",
    version: "1",
    steps: [
      { name: "a", handler, dependencies: ["c"] },
      { name: "b", handler, dependencies: ["ghost", "b"] },
      { name: "c", handler, dependencies: ["a"] },
      { name: "a", handler },
      { name: "w", type: "batch_worker", handler, dependencies: ["c"] },
      { name: "j", type: "deferred_convergence", handler },
    ],
  });
  const messages = issues.map((i) => `${i.path}: ${i.message}`);
  assert.ok(messages.includes('steps[3].name: duplicate step name "a"'));
  assert.ok(messages.includes('steps[1].dependencies[0]: no step named "ghost" in the template'));
  assert.ok(messages.includes("steps[1].dependencies[1]: a step cannot depend on itself"));
  assert.ok(
    messages.includes("steps[4].dependencies: a batch_worker step must depend on a batchable step"),
  );
  assert.ok(
    messages.includes(
      "steps[5].dependencies: a deferred_convergence step needs at least one dependency",
    ),
  );
  assert.ok(
    messages.some((m) => /^steps: dependency cycle: (a -> c -> a|c -> a -> c)$/.test(m)),
    messages.join("\n"),
  );
});

Deno.test("initialStepNames() leaves out decision branches and batch workers with what follows them", () => {
  const t = parseTaskTemplate({
    name: "t",
    namespace_name: "catalog",
    version: "1",
    steps: [
      { name: "start", handler },
      { name: "route", type: "decision", handler, dependencies: ["start"] },
      { name: "left", handler, dependencies: ["route"] },
      { name: "split", type: "batchable", handler, dependencies: ["start"] },
      { name: "work", type: "batch_worker", handler, dependencies: ["split"] },
      { name: "sum", type: "deferred_convergence", handler, dependencies: ["work"] },
      { name: "side", handler, dependencies: ["split"] },
    ],
  });
  assert.deepEqual(initialStepNames(t), ["start", "route", "split", "side"]);
});
