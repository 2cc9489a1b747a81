/**
 * Tasker's queue and notification channel names.
 *
 * Every step of a task goes to `worker_<namespace>_queue`, where namespace is
 * the task template's namespace; Tasker's `pgmq_send_with_notify` signals each
 * send on `pgmq_message_ready.<namespace>` (and on the global
 * `pgmq_message_ready`). Workers report on {@link RESULTS_QUEUE}.
 *
 * @module
 */
import { TaskerError } from "./tasker_error.ts";

/** The queue workers send step results to (orchestration consumes it). */
export const RESULTS_QUEUE = "orchestration_step_results";

/** Orchestration's queues; a worker may create them when missing. */
export const ORCHESTRATION_QUEUES: readonly string[] = [
  "orchestration_step_results",
  "orchestration_task_requests",
  "orchestration_task_finalizations",
];

/** The channel every `pgmq_send_with_notify` also notifies. */
export const GLOBAL_NOTIFY_CHANNEL = "pgmq_message_ready";

/** Longest namespace Tasker accepts, in characters. */
export const MAX_NAMESPACE_LENGTH = 29;

/**
 * Longest pgmq queue name: pgmq names tables `template_pgmq_q_<queue>`, and a
 * PostgreSQL identifier holds 63 bytes.
 */
export const MAX_QUEUE_NAME_LENGTH = 47;

const NAMESPACE_CHARACTERS = /^[A-Za-z0-9_]+$/;

/**
 * Throws `queue_name_invalid` unless `namespace` is a Tasker namespace a
 * queue can be named after: 1 to 29 characters of `[A-Za-z0-9_]`.
 * `details.rule` names the broken rule: `type`, `empty`, `length` or `characters`.
 *
 * @example
 * ```ts
 * import { checkNamespace } from "./queue_names.ts";
 * checkNamespace("catalog");
 * try {
 *   checkNamespace("my-namespace");
 * } catch (error) {
 *   console.assert((error as { details: { rule: string } }).details.rule === "characters");
 * }
 * ```
 */
export function checkNamespace(namespace: string): void {
  const fail = (rule: string, why: string): never => {
    throw new TaskerError(
      "queue_name_invalid",
      `Cannot use namespace ${JSON.stringify(namespace)} as ${why}`,
      { details: { namespace, rule } },
    );
  };
  if (typeof namespace !== "string") fail("type", `it is not a string: got ${typeof namespace}`);
  if (namespace.length === 0) fail("empty", "it is empty");
  if (namespace.length > MAX_NAMESPACE_LENGTH) {
    fail(
      "length",
      `it is longer than ${MAX_NAMESPACE_LENGTH} characters: current length is ${namespace.length}`,
    );
  }
  if (!NAMESPACE_CHARACTERS.test(namespace)) {
    fail("characters", "it has characters outside [A-Za-z0-9_]");
  }
}

/**
 * The step queue of a namespace: `worker_<namespace>_queue`. Throws
 * `queue_name_invalid` (see {@link checkNamespace}) for a namespace Tasker
 * would refuse, and when the queue name would pass pgmq's 47-character limit.
 *
 * Note pgmq lowercases table names, so `Catalog` and `catalog` share a table:
 * keep namespaces lowercase.
 *
 * @example
 * ```ts
 * import { namespaceQueueName } from "./queue_names.ts";
 * console.assert(namespaceQueueName("catalog") === "worker_catalog_queue");
 * ```
 */
export function namespaceQueueName(namespace: string): string {
  checkNamespace(namespace);
  const queue = `worker_${namespace}_queue`;
  // Unreachable while namespaces stop at 29 characters (7 + 29 + 6 = 42), kept
  // so the queue limit holds on its own if the namespace limit ever changes.
  if (queue.length > MAX_QUEUE_NAME_LENGTH) {
    throw new TaskerError(
      "queue_name_invalid",
      `Cannot use queue ${JSON.stringify(queue)} as it is longer than ${MAX_QUEUE_NAME_LENGTH} ` +
        `characters: current length is ${queue.length}`,
      { details: { namespace, queue, rule: "queue_length" } },
    );
  }
  return queue;
}

/**
 * The channel `tasker.pgmq_send_with_notify` notifies for a namespace's
 * queue: `pgmq_message_ready.<namespace>`. Validates like {@link namespaceQueueName}.
 *
 * @example
 * ```ts
 * import { notifyChannel } from "./queue_names.ts";
 * console.assert(notifyChannel("catalog") === "pgmq_message_ready.catalog");
 * ```
 */
export function notifyChannel(namespace: string): string {
  checkNamespace(namespace);
  return `${GLOBAL_NOTIFY_CHANNEL}.${namespace}`;
}

/**
 * The namespace Tasker's `extract_queue_namespace` derives from a queue name:
 * `orchestration*` → `orchestration`, `worker_<ns>_queue` → `<ns>`,
 * `<ns>_queue` → `<ns>`, anything else → `default`.
 *
 * @example
 * ```ts
 * import { queueNamespace } from "./queue_names.ts";
 * console.assert(queueNamespace("worker_catalog_queue") === "catalog");
 * console.assert(queueNamespace("orchestration_step_results") === "orchestration");
 * ```
 */
export function queueNamespace(queue: string): string {
  if (queue.startsWith("orchestration")) return "orchestration";
  const worker = /^worker_(.+?)_queue$/.exec(queue);
  if (worker) return worker[1];
  const plain = /^([a-zA-Z][a-zA-Z0-9_]*)_queue$/.exec(queue);
  if (plain) return plain[1];
  return "default";
}
