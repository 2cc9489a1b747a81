// The gate handler's wasm build against its native build on generated
// envelopes and configs (valid and invalid): both must give the same result
// or the same coded failure, retryability and backoff hint included. Also the
// examples through both builds, and the built module in a real sandbox process.
//
// The AssemblyScript compiler must load before the portable runtime (both
// install the same globals; the compiler only when they are absent), so the
// harness comes in by dynamic import.
await import("assemblyscript");
const {
  assertExamples,
  assertSameOutcome,
  handlerJson,
  loadHandler,
  manifestMemoryBytes,
  runBoth,
} = await import(
  "../support/catalog_harness.ts"
);
const { createRuntime } = await import("../../src/create_runtime.ts");
import assert from "node:assert/strict";
import fc from "fast-check";

const NAME = "gate";

const json = fc.jsonValue({ maxDepth: 2 });
/** Approval records: decided, undecided, odd, or none. */
const record = fc.oneof(
  { weight: 6, arbitrary: fc.record({ approved: fc.boolean(), by: fc.string({ maxLength: 8 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      status: fc.constantFrom("approved", "denied", "in_review"),
      signers: fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }),
    }, { requiredKeys: ["status"] }),
  },
  { weight: 2, arbitrary: fc.record({ approved: fc.constantFrom(null, "yes", 1, [true]) }) },
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: json },
);
const context = fc.record({ approval: record, other: json }, { requiredKeys: [] });
const deps = fc.oneof(
  fc.record({ approve: fc.record({ approval: record }, { requiredKeys: [] }) }, {
    requiredKeys: [],
  }),
  json,
);

const APPROVALS = [
  ".context.approval // .deps.approve.approval",
  ".context.approval",
  ".deps.approve.approval",
  ".context.approval | objects",
  ".context.approval, .deps.approve.approval",
  "empty",
  ".context |",
  'error("lookup failed")',
  "input",
  ".context.approval.by",
];
const CONDITIONS = [
  ".approved == true",
  ".approved == false",
  '.status == "approved"',
  '.status == "denied"',
  '.status == "approved" and (.signers | length) >= 1',
  ".approved",
  "true",
  "false",
  "empty",
  "true, false",
  "(",
  "$x",
  ".approved | not",
  'type == "object"',
];
const validConfig = fc.record(
  {
    approval: fc.constantFrom(...APPROVALS),
    approved_when: fc.constantFrom(...CONDITIONS),
    rejected_when: fc.constantFrom(...CONDITIONS),
    poll_seconds: fc.oneof(fc.integer({ min: 1, max: 86400 }), fc.constantFrom(1, 60, 86400)),
  },
  { requiredKeys: ["approval"] },
);

/** One way to break a valid config. */
const MUTATIONS: ((c: Record<string, unknown>) => Record<string, unknown>)[] = [
  ({ approval: _, ...c }) => c,
  (c) => ({ ...c, approval: "" }),
  (c) => ({ ...c, approval: null }),
  (c) => ({ ...c, approved_when: "" }),
  (c) => ({ ...c, rejected_when: 1 }),
  (c) => ({ ...c, poll_seconds: 0 }),
  (c) => ({ ...c, poll_seconds: 86401 }),
  (c) => ({ ...c, poll_seconds: 0.5 }),
  (c) => ({ ...c, poll_seconds: "60" }),
  (c) => ({ ...c, timeout_seconds: 60 }),
];
const config = fc.oneof(
  { weight: 5, arbitrary: validConfig },
  {
    weight: 1,
    arbitrary: fc.tuple(validConfig, fc.integer({ min: 0, max: MUTATIONS.length - 1 })).map((
      [c, i],
    ) => MUTATIONS[i](c)),
  },
);

Deno.test("gate: the wasm and native builds agree on 400 generated envelopes and configs", async () => {
  const h = await loadHandler(NAME);
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(
      context,
      deps,
      config,
      fc.integer({ min: 1, max: 50 }),
      async (c, d, cfg, attempts) => {
        const envelope = {
          context: c,
          deps: d,
          step: { name: "approval_gate", attempts, max_attempts: 50, inputs: {} },
          config: cfg,
        };
        const both = await runBoth(h, envelope);
        assertSameOutcome(both, JSON.stringify(envelope).slice(0, 400));
        const key = both.native.ok ? "ok" : both.native.failure.code;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      },
    ),
    { seed: 42, numRuns: 400 },
  );
  // The generators must reach each outcome, or agreement says little.
  for (
    const code of [
      "ok",
      "approval_pending",
      "approval_rejected",
      "approval_conflict",
      "condition_not_boolean",
      "config_invalid",
      "jq_syntax",
      "jq_runtime",
      "jq_unsupported",
      "jq_cardinality",
    ]
  ) {
    assert.ok(
      (seen.get(code) ?? 0) > 0,
      `no generated case reached ${code}: ${JSON.stringify([...seen])}`,
    );
  }
});

Deno.test("gate: the examples give their documented outcomes in both builds", async () => {
  await assertExamples(await loadHandler(NAME));
});

Deno.test("gate: the built module runs in a sandbox process under its manifest", async () => {
  const h = await loadHandler(NAME);
  const manifest = await handlerJson(NAME, "manifest.json");
  const runtime = createRuntime();
  try {
    const guest = await runtime.load(h.guest.bytes, manifest, { name: NAME });
    const config = { approval: ".context.approval // .deps.approve.approval", poll_seconds: 120 };

    const pending = await runtime.execute(guest, { context: {}, deps: {}, config });
    assert.equal(pending.status, "failed");
    assert.equal(pending.error?.retryable, true);
    assert.deepEqual(pending.error?.details, {
      guest_code: "approval_pending",
      guest_details: {
        backoff_hint: { backoff_type: "Custom", delay_seconds: 120 },
        record_found: false,
      },
    });

    const approval = { approved: true, by: "ann" };
    const passed = await runtime.execute(guest, {
      context: {},
      deps: { approve: { approval } },
      config,
    });
    assert.equal(passed.status, "completed", JSON.stringify(passed.error));
    assert.deepEqual(passed.result, { approved: true, approval });

    const rejected = await runtime.execute(guest, {
      context: { approval: { approved: false } },
      config,
    });
    assert.equal(rejected.error?.details?.guest_code, "approval_rejected");
    assert.equal(rejected.error?.retryable, false);
  } finally {
    await runtime.close();
  }
});

Deno.test("gate: 1 MB envelopes run under the manifest with at least 2x memory headroom", async () => {
  const h = await loadHandler(NAME);
  const limit = await manifestMemoryBytes(h);
  // Dense arrays of small numbers are the most values per byte: the worst case for memory.
  const dense = Array.from({ length: 500_000 }, (_, i) => i % 10);
  const envelopes = [
    {
      context: { noise: dense, approval: { approved: true } },
      config: { approval: ".context.approval" },
    },
    {
      context: { approval: { approved: true, evidence: dense } },
      config: { approval: ".context.approval" },
    },
  ];
  for (const envelope of envelopes) {
    const both = await runBoth(h, envelope);
    assertSameOutcome(both, JSON.stringify(envelope.config));
    assert.equal(both.wasm.status, "completed", JSON.stringify(both.wasm.error));
    const used = both.wasm.metrics.memory_high_water_bytes;
    assert.ok(
      used * 2 <= limit,
      `${JSON.stringify(envelope.config)} used ${used} bytes of ${limit}`,
    );
  }
});
