// The decide handler's wasm build against its native build on generated
// envelopes and configs (valid and invalid): both must give the same
// decision_point_outcome and matched_rule, or the same coded failure. Also the
// examples through both builds, and the built module in a real sandbox process
// under its manifest.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  assertExamples,
  assertSameOutcome,
  type HandlerExample,
  handlerJson,
  loadHandler,
  runBoth,
} from "../support/catalog_harness.ts";
import { createRuntime } from "../../src/create_runtime.ts";

const NAME = "decide";

const number = fc.oneof(
  fc.integer({ min: -20000, max: 20000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1e21, 5e-324),
);
const json = fc.jsonValue({ maxDepth: 3 });
/** Contexts shaped like what the rules below read, and some not. */
const context = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      amount: number,
      tier: fc.constantFrom("gold", "standard", null, 3),
      flag: fc.oneof({ weight: 4, arbitrary: fc.boolean() }, { weight: 1, arbitrary: json }),
      alerts: fc.array(
        fc.record({ severity: fc.constantFrom("critical", "low", "info") }, { requiredKeys: [] }),
        { maxLength: 4 },
      ),
      a: json,
    }, { requiredKeys: [] }),
  },
  { weight: 1, arbitrary: json },
);
const envelope = (config: unknown) =>
  fc.record({
    context,
    deps: fc.dictionary(fc.constantFrom("load_customer", "score"), json, { maxKeys: 2 }),
    step: fc.record({
      name: fc.constantFrom("route"),
      attempts: fc.integer({ min: 0, max: 3 }),
      max_attempts: fc.constant(3),
      inputs: json,
    }),
    config: fc.constant(config),
  });

const GOOD_WHENS = [
  ".context.amount > 10000",
  ".context.amount > 1000",
  '.context.tier == "gold"',
  '.context.tier == "gold" and .context.amount > 100',
  'any(.context.alerts[]?; .severity == "critical")',
  "(.context.alerts | length) == 0",
  ".context.flag",
  ".context.flag == true",
  "true",
  "false",
  "(.deps | length) > 1",
  ".step.attempts > 1",
  '.context | has("a")',
];
const BAD_WHENS = [
  ".context.tier",
  ".context.amount",
  "null",
  "empty",
  '.context.alerts[]? | .severity == "low"',
  'error("no route")',
  '.context.amount + "x" == 1',
  ".amount >",
  "now > 0",
  "$ENV.MODE == 1",
];
const when = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...GOOD_WHENS) },
  { weight: 1, arbitrary: fc.constantFrom(...BAD_WHENS) },
);
const stepName = fc.oneof(
  fc.constantFrom("manual_review", "auto_approve", "notify_compliance", "page_oncall", "é", "a b"),
  fc.string({ minLength: 1, maxLength: 8 }),
);
const steps = fc.array(stepName, { minLength: 1, maxLength: 3 });
const validConfig = fc.record({
  rules: fc.array(fc.record({ when, steps }), { minLength: 1, maxLength: 4 }),
  default: steps,
}, { requiredKeys: ["rules"] }) as fc.Arbitrary<Record<string, unknown>>;
/** One way to break a valid config. */
const MUTATIONS: ((c: Record<string, unknown>) => unknown)[] = [
  ({ rules: _, ...c }) => c,
  (c) => ({ ...c, rules: [] }),
  (c) => ({ ...c, rules: [{ when: "true" }] }),
  (c) => ({ ...c, rules: [{ when: "true", steps: [] }] }),
  (c) => ({ ...c, rules: [{ when: "true", steps: [""] }] }),
  (c) => ({ ...c, rules: [{ when: "true", steps: ["s".repeat(129)] }] }),
  (c) => ({ ...c, rules: [{ when: "", steps: ["x"] }] }),
  (c) => ({ ...c, default: [] }),
  (c) => ({ ...c, default: "auto_approve" }),
  (c) => ({ ...c, extra: 1 }),
];
const config = fc.oneof(
  { weight: 6, arbitrary: validConfig },
  {
    weight: 1,
    arbitrary: fc.tuple(validConfig, fc.nat({ max: MUTATIONS.length - 1 })).map(([c, i]) =>
      MUTATIONS[i](c)
    ),
  },
);

Deno.test("decide: the wasm and native builds agree on 500 generated envelopes and configs", async () => {
  const h = await loadHandler(NAME);
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(config.chain(envelope), async (env) => {
      const both = await runBoth(h, env);
      assertSameOutcome(both, JSON.stringify(env).slice(0, 400));
      let key: string;
      if (both.native.ok) {
        const result = JSON.parse(both.native.resultJson);
        key = result.matched_rule !== null
          ? "rule"
          : result.decision_point_outcome.type === "create_steps"
          ? "default"
          : "no_branches";
      } else {
        key = both.native.failure.code;
      }
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }),
    { seed: 42, numRuns: 500 },
  );
  // The generators must reach each kind of decision and each failure path.
  const codes = [
    "rule",
    "default",
    "no_branches",
    "decide_not_boolean",
    "config_invalid",
    "jq_syntax",
    "jq_unsupported",
    "jq_runtime",
    "jq_cardinality",
  ];
  for (const code of codes) {
    assert.ok((seen.get(code) ?? 0) > 0, `no case reached ${code}: ${JSON.stringify([...seen])}`);
  }
  assert.ok((seen.get("rule") ?? 0) >= 100, JSON.stringify([...seen]));
});

Deno.test("decide: the examples give their documented outcomes in both builds", async () => {
  await assertExamples(await loadHandler(NAME));
});

Deno.test("decide: the built module runs in a sandbox process under its manifest, 1 MB envelopes included", async () => {
  const h = await loadHandler(NAME);
  const manifest = await handlerJson(NAME, "manifest.json");
  const runtime = createRuntime();
  try {
    const guest = await runtime.load(h.guest.bytes, manifest, { name: NAME });
    const example = await handlerJson<HandlerExample>(NAME, "examples/route_by_amount.json");
    const outcome = await runtime.execute(guest, example.envelope);
    assert.equal(outcome.status, "completed", JSON.stringify(outcome.error));
    assert.deepEqual(outcome.result, example.expect.result);

    // About 1 MB of alerts under the manifest's memory limit; the last one decides.
    const alerts = Array.from({ length: 12_000 }, (_, i) => ({
      id: `alert-${i}`,
      severity: i === 11_999 ? "critical" : "info",
      text: "y".repeat(50),
    }));
    const big = {
      context: { alerts },
      config: {
        rules: [
          {
            when: '(.context.alerts | map(select(.severity == "low")) | length) > 0',
            steps: ["triage"],
          },
          { when: 'any(.context.alerts[]; .severity == "critical")', steps: ["page_oncall"] },
        ],
      },
    };
    assert.ok(JSON.stringify(big).length > 1_000_000);
    const large = await runtime.execute(guest, big);
    assert.equal(large.status, "completed", JSON.stringify(large.error));
    assert.deepEqual(large.result, {
      decision_point_outcome: { type: "create_steps", step_names: ["page_oncall"] },
      matched_rule: 1,
    });
  } finally {
    await runtime.close();
  }
});
