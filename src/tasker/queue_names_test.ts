import assert from "node:assert/strict";
import {
  checkNamespace,
  MAX_NAMESPACE_LENGTH,
  namespaceQueueName,
  notifyChannel,
  queueNamespace,
  RESULTS_QUEUE,
} from "./queue_names.ts";
import { TaskerError } from "./tasker_error.ts";

Deno.test("namespaceQueueName() names the step queue worker_<namespace>_queue", () => {
  assert.equal(namespaceQueueName("catalog"), "worker_catalog_queue");
  assert.equal(namespaceQueueName("a"), "worker_a_queue");
  assert.equal(namespaceQueueName("Order_Flow_2"), "worker_Order_Flow_2_queue");
  const longest = "n".repeat(MAX_NAMESPACE_LENGTH);
  assert.equal(namespaceQueueName(longest), `worker_${longest}_queue`);
  assert.ok(namespaceQueueName(longest).length <= 47);
});

Deno.test("namespaceQueueName() refuses namespaces Tasker refuses, naming the rule", () => {
  const cases: [unknown, string][] = [
    ["", "empty"],
    ["n".repeat(MAX_NAMESPACE_LENGTH + 1), "length"],
    ["my-namespace", "characters"],
    ["a.b", "characters"],
    ["with space", "characters"],
    ["ünïcode", "characters"],
    ["semi;colon", "characters"],
    [42, "type"],
  ];
  for (const [namespace, rule] of cases) {
    for (const fn of [namespaceQueueName, notifyChannel, checkNamespace]) {
      assert.throws(
        () => fn(namespace as string),
        (error: unknown) => {
          assert.ok(error instanceof TaskerError, String(namespace));
          assert.equal(error.taskerCode, "queue_name_invalid");
          assert.equal(error.code as string, "queue_name_invalid");
          assert.equal(error.details.rule, rule, String(namespace));
          assert.equal(error.details.namespace, namespace);
          return true;
        },
      );
    }
  }
});

Deno.test("notifyChannel() is the channel pgmq_send_with_notify uses for the namespace", () => {
  assert.equal(notifyChannel("catalog"), "pgmq_message_ready.catalog");
  // The channel's namespace is what Tasker extracts from the queue name.
  for (const ns of ["catalog", "foo_queue", "orders_v2", "x"]) {
    assert.equal(queueNamespace(namespaceQueueName(ns)), ns);
    assert.equal(notifyChannel(ns), `pgmq_message_ready.${queueNamespace(namespaceQueueName(ns))}`);
  }
});

Deno.test("queueNamespace() follows Tasker's extract_queue_namespace", () => {
  assert.equal(queueNamespace(RESULTS_QUEUE), "orchestration");
  assert.equal(queueNamespace("orchestration_task_requests"), "orchestration");
  assert.equal(queueNamespace("worker_catalog_queue"), "catalog");
  assert.equal(queueNamespace("billing_queue"), "billing");
  assert.equal(queueNamespace("something_else"), "default");
});
