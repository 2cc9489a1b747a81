/**
 * What an idle broker pays to read, hydrate and claim one step, through real
 * PostgreSQL: `readMessages` (one message), `hydrateStep`, then `claimStep`
 * with the ack (three statements, the separate path) against `readAndClaim`
 * (one statement, for a definition the broker knows). Each iteration reads
 * the next message of its own queue, for a fresh task whose step is
 * `enqueued`, so both write what a broker writes. Its template is the demo's order pipeline (~2.4 KB of JSON
 * as PostgreSQL sends it)
 * with the step's definition added, so the hydration reads a template of a
 * realistic size.
 *
 *   deno bench -A bench/hydrate_claim_bench.ts
 *
 * Needs PostgreSQL's binaries (a throwaway cluster, as the tests start one;
 * loopback TCP, one connection).
 *
 * @module
 */
import { connectPostgres } from "../src/db/postgres_client.ts";
import { claimStep } from "../src/tasker/claim_step.ts";
import { hydrateStep } from "../src/tasker/hydrate_step.ts";
import { createQueue, readMessages, sendWithNotify } from "../src/tasker/pgmq_queue.ts";
import { readAndClaim } from "../src/tasker/read_and_claim.ts";
import type { StepDefinition } from "../src/tasker/step_definition.ts";
import { parseStepMessage } from "../src/tasker/step_message.ts";
import { createFixtureTask } from "../src/tasker/_tasker_fixture.ts";
import { startTestDatabase } from "../tests/support/database_harness.ts";

const ITERATIONS = 1000;
const WARMUP = 50;
const WORKER = "0190a8b2-1c2d-7e3f-8a4b-5c6d7e8f9aff";

/** The order pipeline's template, plus the one step the bench's tasks have. */
const TEMPLATE = JSON.parse(
  await Deno.readTextFile(
    new URL("../tasker_double/workflows/order_pipeline/template.json", import.meta.url),
  ),
);
TEMPLATE.steps.push({
  name: "a",
  handler: { callable: "catalog.transform", initialization: { filter: "." } },
});

const db = await startTestDatabase({ kind: "postgres" });
const client = connectPostgres(db.url!, { max: 1 });
globalThis.addEventListener("unload", () => {
  // deno bench ends the process after the last bench; the cluster must not outlive it.
  void client.close().finally(() => db.close());
});
/** A queue of `count` messages, each for a claimable step of its own task. */
async function seed(queue: string, count: number): Promise<string> {
  await createQueue(client, queue);
  for (let i = 0; i < count; i++) {
    const fixture = await createFixtureTask(client, {
      steps: [{ name: "a" }],
      configuration: TEMPLATE,
      context: { orders: Array.from({ length: 20 }, (_, n) => ({ id: n, total: n * 7 })) },
    });
    await sendWithNotify(client, queue, {
      task_uuid: fixture.taskUuid,
      step_uuid: fixture.steps.a,
      correlation_id: fixture.correlationId,
    });
  }
  return queue;
}

const perBench = ITERATIONS + WARMUP + 1;
const separate = await seed("bench_separate", perBench);
const combined = await seed("bench_combined", perBench);

// The one statement claims only a known definition: learn it from one step, as the broker does.
const first = await readAndClaim(client, {
  queue: combined,
  vtSeconds: 30,
  workerUuid: WORKER,
  at: new Date(),
  known: new Map(),
});
const learned = first.step?.result;
if (!learned?.hydrated.ok || learned.definitionDigest === null) {
  throw new Error("the first step did not hydrate with a digest");
}
const known = new Map<string, StepDefinition>([
  [learned.definitionDigest, learned.hydrated.step.definition],
]);

function claimedOrThrow(claim: unknown): void {
  if (typeof claim !== "object" || claim === null || !("claimed" in claim)) {
    throw new Error(`a bench step was not claimed: ${JSON.stringify(claim)}`);
  }
}

Deno.bench({
  name: "readMessages, hydrateStep, then claimStep with the ack (three statements)",
  group: "read, hydrate and claim one step",
  baseline: true,
  n: ITERATIONS,
  warmup: WARMUP,
  async fn() {
    const [read] = await readMessages(client, separate, { vtSeconds: 30, qty: 1 });
    const parsed = read && parseStepMessage(read.message);
    if (!parsed?.ok) throw new Error("Cannot run another iteration as the queue is empty");
    const { message } = parsed;
    const hydrated = await hydrateStep(client, message);
    if (!hydrated.ok) throw new Error(hydrated.reason);
    claimedOrThrow(
      await claimStep(client, {
        stepUuid: message.step_uuid,
        workerUuid: WORKER,
        correlationId: message.correlation_id,
      }, { archive: { queue: separate, msgId: read.msgId } }),
    );
  },
});

Deno.bench({
  name: "readAndClaim, a known definition (one statement)",
  group: "read, hydrate and claim one step",
  n: ITERATIONS,
  warmup: WARMUP,
  async fn() {
    const result = await readAndClaim(client, {
      queue: combined,
      vtSeconds: 30,
      workerUuid: WORKER,
      at: new Date(),
      known,
    });
    if (!result.message) throw new Error("Cannot run another iteration as the queue is empty");
    claimedOrThrow(result.step?.result.claim);
  },
});
