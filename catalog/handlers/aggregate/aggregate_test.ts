import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { runNative } from "../../native/run_native.ts";
import { handle } from "./aggregate.ts";

interface Aggregated {
  result: unknown;
  count: number;
  steps: string[];
}

function run(envelope: unknown) {
  return runNative(handle, JSON.stringify(envelope));
}

function aggregate(deps: unknown, config: Record<string, unknown>): Aggregated {
  const out = run({ context: {}, deps, config });
  assert.ok(out.ok, JSON.stringify(out));
  return JSON.parse(out.resultJson);
}

function failure(deps: unknown, config: Record<string, unknown>) {
  const out = run({ context: {}, deps, config });
  assert.ok(!out.ok, `expected a failure, got ${JSON.stringify(out)}`);
  return out.failure;
}

const NUMBERS = { a: { n: 3 }, b: { n: -1.5 }, c: { n: 10 } };

Deno.test("aggregate sums the values the path selects, in envelope order by default", () => {
  assert.deepEqual(aggregate(NUMBERS, { mode: "sum", path: ".n" }), {
    result: 11.5,
    count: 3,
    steps: ["a", "b", "c"],
  });
});

Deno.test("aggregate min and max pick the extreme numbers and give null for no values", () => {
  assert.equal(aggregate(NUMBERS, { mode: "min", path: ".n" }).result, -1.5);
  assert.equal(aggregate(NUMBERS, { mode: "max", path: ".n" }).result, 10);
  assert.deepEqual(aggregate({}, { mode: "min" }), { result: null, count: 0, steps: [] });
  assert.deepEqual(aggregate({}, { mode: "max" }), { result: null, count: 0, steps: [] });
});

Deno.test("aggregate gives the identity of each mode when no values are selected", () => {
  assert.equal(aggregate({}, { mode: "sum" }).result, 0);
  assert.deepEqual(aggregate({}, { mode: "merge" }).result, {});
  assert.deepEqual(aggregate({}, { mode: "concat" }).result, []);
  assert.equal(aggregate({}, { mode: "count" }).result, 0);
  assert.equal(aggregate(null, { mode: "count" }).result, 0);
  assert.equal(aggregate(undefined, { mode: "count" }).result, 0);
});

Deno.test("aggregate merges objects shallowly left to right, later keys keeping the earlier position", () => {
  const deps = { x: { a: 1, b: { deep: 1 } }, y: { c: 3, a: 2 }, z: { b: { other: 2 } } };
  const out = aggregate(deps, { mode: "merge" });
  assert.deepEqual(out.result, { a: 2, b: { other: 2 }, c: 3 });
  assert.deepEqual(Object.keys(out.result as object), ["a", "b", "c"]);
});

Deno.test("aggregate concatenates arrays in step order", () => {
  const deps = { p: { ids: [1, 2] }, q: { ids: [] }, r: { ids: [[3], 4] } };
  assert.deepEqual(aggregate(deps, { mode: "concat", path: ".ids" }).result, [1, 2, [3], 4]);
  assert.deepEqual(aggregate(deps, { mode: "concat", path: ".ids", steps: ["r", "p"] }).result, [
    [3],
    4,
    1,
    2,
  ]);
});

Deno.test("aggregate count is the number of selected values, which a path can filter or multiply", () => {
  const deps = {
    a: { ok: true, tags: ["x", "y"] },
    b: { ok: false, tags: [] },
    c: { ok: true, tags: ["z"] },
  };
  assert.deepEqual(aggregate(deps, { mode: "count" }), {
    result: 3,
    count: 3,
    steps: ["a", "b", "c"],
  });
  assert.equal(aggregate(deps, { mode: "count", path: "select(.ok)" }).result, 2);
  assert.equal(aggregate(deps, { mode: "count", path: ".tags[]" }).result, 3);
});

Deno.test("aggregate reduce runs the reducer over the array of selected values", () => {
  const out = aggregate(NUMBERS, { mode: "reduce", path: ".n", reducer: "sort" });
  assert.deepEqual(out.result, [-1.5, 3, 10]);
  assert.deepEqual(aggregate({}, { mode: "reduce", reducer: "length" }).result, 0);
  assert.deepEqual(
    aggregate(NUMBERS, { mode: "reduce", reducer: "map(.n) | {total: add, n: length}" }).result,
    { total: 11.5, n: 3 },
  );
});

Deno.test("aggregate reads only the listed steps, in the listed order", () => {
  const out = aggregate(NUMBERS, { mode: "reduce", steps: ["c", "a"], path: ".n", reducer: "." });
  assert.deepEqual(out, { result: [10, 3], count: 2, steps: ["c", "a"] });
});

Deno.test("aggregate fails with dependency_missing naming every absent listed step", () => {
  const f = failure(NUMBERS, { mode: "sum", steps: ["a", "gone", "b", "lost"], path: ".n" });
  assert.equal(f.code, "dependency_missing");
  assert.equal(f.retryable, false);
  assert.deepEqual(f.details, { missing: ["gone", "lost"] });
  assert.match(f.message, /"gone" \(and 1 more\)/);
  const none = failure(null, { mode: "sum", steps: ["a"] });
  assert.deepEqual(none.details, { missing: ["a"] });
});

Deno.test("aggregate skips absent listed steps when missing is skip", () => {
  const out = aggregate(NUMBERS, {
    mode: "sum",
    steps: ["gone", "c", "a"],
    path: ".n",
    missing: "skip",
  });
  assert.deepEqual(out, { result: 13, count: 2, steps: ["c", "a"] });
  assert.deepEqual(aggregate({}, { mode: "sum", steps: ["x"], missing: "skip" }), {
    result: 0,
    count: 0,
    steps: [],
  });
});

Deno.test("aggregate fails with aggregate_type naming the step and value of the wrong type", () => {
  const cases: [string, unknown, string, string][] = [
    ["merge", [1], "array", "object"],
    ["concat", { a: 1 }, "object", "array"],
    ["sum", "3", "string", "number"],
    ["min", null, "null", "number"],
    ["max", true, "boolean", "number"],
  ];
  for (const [mode, bad, type, expected] of cases) {
    const good = mode === "merge" ? {} : mode === "concat" ? [] : 1;
    const f = failure({ ok: good, bad, later: good }, { mode });
    assert.equal(f.code, "aggregate_type", mode);
    assert.equal(f.retryable, false);
    assert.deepEqual(f.details, { step: "bad", index: 1, type, expected }, mode);
  }
});

Deno.test("aggregate fails with aggregate_overflow when a sum leaves the JSON number range", () => {
  const f = failure({ a: 1.7e308, b: 1.7e308 }, { mode: "sum" });
  assert.equal(f.code, "aggregate_overflow");
  assert.equal(f.retryable, false);
  assert.equal(aggregate({ a: 1.7e308, b: -1.7e308 }, { mode: "sum" }).result, 0);
});

Deno.test("aggregate reports jq errors in path and reducer with the field and step", () => {
  const syntax = failure(NUMBERS, { mode: "sum", path: ".n |" });
  assert.equal(syntax.code, "jq_syntax");
  assert.equal((syntax.details as { field: string }).field, "config.path");
  // A bad path fails at compile time even with no dependency to run it on.
  assert.equal(failure({}, { mode: "sum", path: ".n |" }).code, "jq_syntax");
  assert.equal(failure({}, { mode: "reduce", reducer: "map(" }).code, "jq_syntax");

  const runtime = failure({ a: { n: 1 }, b: "text" }, { mode: "sum", path: ".n" });
  assert.equal(runtime.code, "jq_runtime");
  assert.deepEqual(
    {
      field: (runtime.details as { field: string }).field,
      step: (runtime.details as { step: string }).step,
    },
    { field: "config.path", step: "b" },
  );
  const reducer = failure(NUMBERS, { mode: "reduce", reducer: 'error("boom")' });
  assert.equal(reducer.code, "jq_runtime");
  assert.equal((reducer.details as { field: string }).field, "config.reducer");
});

Deno.test("aggregate fails with jq_cardinality when the reducer gives other than one value", () => {
  for (const reducer of ["empty", ".[]"]) {
    const f = failure(NUMBERS, { mode: "reduce", reducer });
    assert.equal(f.code, "jq_cardinality", reducer);
    assert.deepEqual(f.details, { field: "config.reducer", filter: reducer });
  }
});

Deno.test("aggregate rejects invalid configs with config_invalid", () => {
  const bad: Record<string, unknown>[] = [
    {},
    { mode: "average" },
    { mode: "sum", steps: "a" },
    { mode: "sum", steps: [1] },
    { mode: "sum", path: "" },
    { mode: "sum", missing: "ignore" },
    { mode: "sum", extra: 1 },
    { mode: "reduce" },
    { mode: "sum", reducer: "add" },
    { mode: "sum", steps: ["a", "b", "a"] },
  ];
  for (const config of bad) {
    const f = failure(NUMBERS, config);
    assert.equal(f.code, "config_invalid", JSON.stringify(config));
    assert.equal(f.retryable, false);
    assert.ok(Array.isArray((f.details as { errors: unknown[] }).errors));
  }
  const dup = failure(NUMBERS, { mode: "sum", steps: ["a", "b", "a"] });
  assert.equal(
    (dup.details as { errors: { instancePath: string }[] }).errors[0].instancePath,
    "/steps/2",
  );
});

Deno.test("aggregate fails with envelope_invalid when deps is not an object", () => {
  for (const deps of [[], "x", 1, true]) {
    const f = failure(deps, { mode: "count" });
    assert.equal(f.code, "envelope_invalid");
    assert.equal(f.retryable, false);
  }
});

Deno.test("aggregate cuts long step names in messages but keeps them whole in details", () => {
  const name = "s".repeat(500);
  const f = failure({ [name]: "x" }, { mode: "sum" });
  assert.ok(f.message.length < 200, f.message);
  assert.equal((f.details as { step: string }).step, name);
});

Deno.test("aggregate examples produce their documented outcomes", async () => {
  const dir = new URL("./examples/", import.meta.url);
  let count = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".json")) continue;
    const example = JSON.parse(await Deno.readTextFile(new URL(entry.name, dir)));
    const out = run(example.envelope);
    if ("result" in example.expect) {
      assert.ok(out.ok, `${entry.name}: ${JSON.stringify(out)}`);
      assert.deepEqual(JSON.parse(out.resultJson), example.expect.result, entry.name);
    } else {
      assert.ok(!out.ok, entry.name);
      const { code, retryable, details } = example.expect.failure;
      assert.deepEqual(
        { code: out.failure.code, retryable: out.failure.retryable, details: out.failure.details },
        { code, retryable, details },
        entry.name,
      );
    }
    count++;
  }
  assert.ok(count >= 3);
});
