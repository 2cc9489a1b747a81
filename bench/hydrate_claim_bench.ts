/**
 * What the broker's unsaturated path pays to hydrate and claim one step,
 * through real PostgreSQL: `hydrateStep` then `claimStep` with the ack (two
 * statements, the separate path) against `hydrateAndClaim` (one statement,
 * for a definition the broker knows). Each iteration takes a fresh task whose
 * step is `enqueued` and whose message waits in a queue, so both write what a
 * broker writes. Its template is the demo's order pipeline (~2.4 KB of JSON
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
import { hydrateAndClaim } from "../src/tasker/hydrate_and_claim.ts";
import { hydrateStep } from "../src/tasker/hydrate_step.ts";
import { createQueue, sendWithNotify } from "../src/tasker/pgmq_queue.ts";
import type { StepDefinition } from "../src/tasker/step_definition.ts";
import type { StepMessage } from "../src/tasker/step_message.ts";
import { createFixtureTask } from "../src/tasker/_tasker_fixture.ts";
import { startTestDatabase } from "../tests/support/database_harness.ts";

const ITERATIONS = 1000;
const WARMUP = 50;
const WORKER = "0190a8b2-1c2d-7e3f-8a4b-5c6d7e8f9aff";
const QUEUE = "bench_hydrate_claim";

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
await createQueue(client, QUEUE);

/** A claimable step with its message, `count` of them. */
async function seed(count: number): Promise<{ message: StepMessage; msgId: number }[]> {
  const steps = [];
  for (let i = 0; i < count; i++) {
    const fixture = await createFixtureTask(client, {
      steps: [{ name: "a" }],
      configuration: TEMPLATE,
      context: { orders: Array.from({ length: 20 }, (_, n) => ({ id: n, total: n * 7 })) },
    });
    const message = {
      task_uuid: fixture.taskUuid,
      step_uuid: fixture.steps.a,
      correlation_id: fixture.correlationId,
    };
    steps.push({ message, msgId: await sendWithNotify(client, QUEUE, message) });
  }
  return steps;
}

const perBench = ITERATIONS + WARMUP + 1;
const separate = await seed(perBench);
const combined = await seed(perBench);

// The combined statement claims only a known definition: learn it from one step, as the broker does.
const first = combined.pop()!;
const learned = await hydrateAndClaim(client, {
  message: first.message,
  workerUuid: WORKER,
  at: new Date(),
  archive: { queue: QUEUE, msgId: first.msgId },
  known: new Map(),
});
if (!learned.hydrated.ok || learned.definitionDigest === null) {
  throw new Error("the first step did not hydrate with a digest");
}
const known = new Map<string, StepDefinition>([
  [learned.definitionDigest, learned.hydrated.step.definition],
]);

/** The next seeded step; `deno bench` runs exactly `n` + `warmup` iterations of each bench. */
function next(steps: { message: StepMessage; msgId: number }[]) {
  const step = steps.pop();
  if (!step) throw new Error("Cannot run another iteration as every seeded step was used");
  return step;
}

function claimedOrThrow(claim: unknown): void {
  if (typeof claim !== "object" || claim === null || !("claimed" in claim)) {
    throw new Error(`a bench step was not claimed: ${JSON.stringify(claim)}`);
  }
}

Deno.bench({
  name: "hydrateStep, then claimStep with the ack (two statements)",
  group: "hydrate and claim one step",
  baseline: true,
  n: ITERATIONS,
  warmup: WARMUP,
  async fn() {
    const { message, msgId } = next(separate);
    const hydrated = await hydrateStep(client, message);
    if (!hydrated.ok) throw new Error(hydrated.reason);
    claimedOrThrow(
      await claimStep(client, {
        stepUuid: message.step_uuid,
        workerUuid: WORKER,
        correlationId: message.correlation_id,
      }, { archive: { queue: QUEUE, msgId } }),
    );
  },
});

Deno.bench({
  name: "hydrateAndClaim, a known definition (one statement)",
  group: "hydrate and claim one step",
  n: ITERATIONS,
  warmup: WARMUP,
  async fn() {
    const { message, msgId } = next(combined);
    const result = await hydrateAndClaim(client, {
      message,
      workerUuid: WORKER,
      at: new Date(),
      archive: { queue: QUEUE, msgId },
      known,
    });
    claimedOrThrow(result.claim);
  },
});
