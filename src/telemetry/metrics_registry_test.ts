import assert from "node:assert/strict";
import {
  escapeLabelValue,
  formatValue,
  MetricsRegistry,
  OVERFLOW_LABEL_VALUE,
  prometheusName,
} from "./metrics_registry.ts";

/** The sample lines of `text` (no comments), for exact comparisons. */
function samples(text: string, prefix: string): string[] {
  return text.split("\n").filter((line) => line.startsWith(prefix));
}

Deno.test("prometheusName() turns dots into underscores and appends units like OpenTelemetry's exporter", () => {
  assert.equal(prometheusName("tasker.steps.executions.total"), "tasker_steps_executions_total");
  assert.equal(
    prometheusName("tasker.step.execution.duration", { unit: "milliseconds" }),
    "tasker_step_execution_duration_milliseconds",
  );
  assert.equal(
    prometheusName("bytes.read.total", { unit: "bytes", counter: true }),
    "bytes_read_bytes_total",
  );
  assert.equal(prometheusName("run_milliseconds", { unit: "milliseconds" }), "run_milliseconds");
  for (const bad of ["", "1abc", "a-b", "a b", "é", "a.b-c"]) {
    assert.throws(() => prometheusName(bad), TypeError, bad);
  }
});

Deno.test("render() writes HELP, TYPE and samples in the 0.0.4 text format", async () => {
  const registry = new MetricsRegistry();
  const counter = registry.counter({
    name: "tasker.steps.claimed.total",
    help: "Steps claimed",
    labelNames: ["namespace", "claim_method"],
  });
  const plain = registry.counter({ name: "plain.total", help: "no labels" });
  const gauge = registry.gauge({ name: "active", help: "in flight", labelNames: ["ns"] });
  counter.inc({ namespace: "catalog", claim_method: "event" });
  counter.inc({ namespace: "catalog", claim_method: "event" }, 2);
  counter.inc({ namespace: "catalog", claim_method: "poll" });
  gauge.inc({ ns: "a" });
  gauge.inc({ ns: "a" });
  gauge.dec({ ns: "a" });
  gauge.set({ ns: "b" }, -2.5);
  assert.equal(plain.value(), 0);

  const text = await registry.render();
  assert.ok(text.endsWith("\n"));
  const block = text.slice(text.indexOf("# HELP tasker_steps_claimed_total"));
  assert.deepEqual(block.split("\n").slice(0, 11), [
    "# HELP tasker_steps_claimed_total Steps claimed",
    "# TYPE tasker_steps_claimed_total counter",
    'tasker_steps_claimed_total{namespace="catalog",claim_method="event"} 3',
    'tasker_steps_claimed_total{namespace="catalog",claim_method="poll"} 1',
    "# HELP plain_total no labels",
    "# TYPE plain_total counter",
    "plain_total 0",
    "# HELP active in flight",
    "# TYPE active gauge",
    'active{ns="a"} 1',
    'active{ns="b"} -2.5',
  ]);
});

Deno.test("render() escapes label values and HELP text", async () => {
  const registry = new MetricsRegistry();
  const counter = registry.counter({
    name: "odd.total",
    help: 'back\\slash and\nnewline "quotes" stay',
    labelNames: ["step_name"],
  });
  counter.inc({ step_name: 'a"b\\c\nd}e,f="g' });
  const text = await registry.render();
  assert.ok(text.includes('# HELP odd_total back\\\\slash and\\nnewline "quotes" stay\n'));
  assert.deepEqual(samples(text, "odd_total"), [
    'odd_total{step_name="a\\"b\\\\c\\nd}e,f=\\"g"} 1',
  ]);
  assert.equal(escapeLabelValue('\\\n"'), '\\\\\\n\\"');
  // Every sample line is one physical line: no raw newline leaked.
  for (const line of text.split("\n")) assert.ok(!line.includes("\r"));
});

Deno.test("histograms render cumulative _bucket{le}, _sum and _count per series", async () => {
  const registry = new MetricsRegistry();
  const histogram = registry.histogram({
    name: "tasker.step.execution.duration",
    help: "Step execution time",
    unit: "milliseconds",
    labelNames: ["namespace"],
    buckets: [1, 5, 10],
  });
  for (const value of [0.5, 1, 3, 7, 100]) histogram.observe({ namespace: "catalog" }, value);
  histogram.observe({ namespace: "other" }, 10);
  const text = await registry.render();
  const name = "tasker_step_execution_duration_milliseconds";
  assert.ok(text.includes(`# TYPE ${name} histogram\n`));
  assert.deepEqual(samples(text, name), [
    `${name}_bucket{namespace="catalog",le="1"} 2`,
    `${name}_bucket{namespace="catalog",le="5"} 3`,
    `${name}_bucket{namespace="catalog",le="10"} 4`,
    `${name}_bucket{namespace="catalog",le="+Inf"} 5`,
    `${name}_sum{namespace="catalog"} 111.5`,
    `${name}_count{namespace="catalog"} 5`,
    `${name}_bucket{namespace="other",le="1"} 0`,
    `${name}_bucket{namespace="other",le="5"} 0`,
    `${name}_bucket{namespace="other",le="10"} 1`,
    `${name}_bucket{namespace="other",le="+Inf"} 1`,
    `${name}_sum{namespace="other"} 10`,
    `${name}_count{namespace="other"} 1`,
  ]);
  assert.deepEqual(histogram.snapshot({ namespace: "catalog" }), {
    count: 5,
    sum: 111.5,
    buckets: [
      { le: 1, count: 2 },
      { le: 5, count: 3 },
      { le: 10, count: 4 },
      { le: Infinity, count: 5 },
    ],
  });
  assert.equal(histogram.snapshot({ namespace: "none" }), undefined);
});

Deno.test("histograms refuse bad buckets and the reserved le label", () => {
  const registry = new MetricsRegistry();
  for (const buckets of [[], [1, 1], [2, 1], [1, Infinity], [NaN]]) {
    assert.throws(
      () => registry.histogram({ name: `h${buckets.length}x`, help: "h", buckets }),
      RangeError,
    );
  }
  assert.throws(
    () => registry.histogram({ name: "h", help: "h", buckets: [1], labelNames: ["le"] }),
    TypeError,
  );
});

Deno.test("a label cap folds new combinations into one overflow series and counts them", async () => {
  const registry = new MetricsRegistry();
  const counter = registry.counter({
    name: "steps.total",
    help: "h",
    labelNames: ["step_name", "namespace"],
    maxSeries: 3,
  });
  for (let i = 0; i < 1000; i++) counter.inc({ step_name: `step_${i}`, namespace: "catalog" });
  counter.inc({ step_name: "step_0", namespace: "catalog" }); // an existing series still counts
  assert.equal(counter.seriesCount, 4); // 3 + the overflow series
  assert.equal(counter.value({ step_name: "step_0", namespace: "catalog" }), 2);
  assert.equal(
    counter.value({ step_name: OVERFLOW_LABEL_VALUE, namespace: OVERFLOW_LABEL_VALUE }),
    997,
  );
  const text = await registry.render();
  assert.ok(
    text.includes(`steps_total{step_name="__overflow__",namespace="__overflow__"} 997\n`),
  );
  assert.ok(text.includes(`wasm_broker_metric_series_overflow_total{metric="steps_total"} 997\n`));
});

Deno.test("label values are cut at maxLabelValueLength without splitting a surrogate pair", () => {
  const registry = new MetricsRegistry({ maxLabelValueLength: 4 });
  const counter = registry.counter({ name: "c", help: "h", labelNames: ["v"] });
  counter.inc({ v: "abcdefgh" });
  assert.equal(counter.value({ v: "abcd" }), 1);
  assert.equal(counter.value({ v: "abcdXYZ" }), 1); // same cut value, same series
  counter.inc({ v: "abc😀" }); // the emoji's high surrogate is the 4th unit
  assert.equal(counter.value({ v: "abc" }), 1);
  assert.equal(counter.seriesCount, 2);
});

Deno.test("recording with undeclared, missing or non-scalar labels is a TypeError", () => {
  const registry = new MetricsRegistry();
  const counter = registry.counter({ name: "c", help: "h", labelNames: ["a"] });
  // deno-lint-ignore no-explicit-any
  const loose = counter as any;
  assert.throws(() => loose.inc({ a: "x", b: "y" }), TypeError);
  assert.throws(() => loose.inc({}), TypeError);
  assert.throws(() => loose.inc({ a: undefined }), TypeError);
  assert.throws(() => loose.inc({ a: { nested: 1 } }), TypeError);
  assert.throws(() => counter.inc({ a: "x" }, -1), RangeError);
  assert.throws(() => counter.inc({ a: "x" }, NaN), RangeError);
  counter.inc({ a: 1 });
  counter.inc({ a: true });
  assert.equal(counter.value({ a: "1" }), 1);
  assert.equal(counter.value({ a: "true" }), 1);
});

Deno.test("duplicate or clashing metric names and bad label names are refused", () => {
  const registry = new MetricsRegistry();
  registry.counter({ name: "a.total", help: "h" });
  assert.throws(() => registry.gauge({ name: "a_total", help: "h" }), TypeError);
  registry.histogram({ name: "lat", help: "h", buckets: [1] });
  assert.throws(() => registry.counter({ name: "lat_count", help: "h" }), TypeError);
  assert.throws(() => registry.counter({ name: "x", help: "h", labelNames: ["__a"] }), TypeError);
  assert.throws(() => registry.counter({ name: "y", help: "h", labelNames: ["a-b"] }), TypeError);
  assert.throws(
    () => registry.counter({ name: "z", help: "h", labelNames: ["a", "a"] }),
    TypeError,
  );
  assert.throws(() => registry.counter({ name: "w", help: "h", maxSeries: 0 }), RangeError);
  assert.throws(() => new MetricsRegistry({ maxSeries: 1.5 }), RangeError);
});

Deno.test("a collected gauge is computed at each scrape and only holds what collect set", async () => {
  const registry = new MetricsRegistry();
  let depths: Record<string, number> = { worker_catalog_queue: 3, worker_other_queue: 0 };
  let calls = 0;
  const gauge = registry.gauge({
    name: "tasker.queue.depth",
    help: "Messages waiting",
    labelNames: ["queue"],
    collect: async (set) => {
      calls++;
      await Promise.resolve();
      for (const [queue, depth] of Object.entries(depths)) set({ queue }, depth);
    },
  });
  assert.throws(() => gauge.set({ queue: "q" }, 1), TypeError);
  assert.throws(() => gauge.inc({ queue: "q" }), TypeError);

  let text = await registry.render();
  assert.deepEqual(samples(text, "tasker_queue_depth"), [
    'tasker_queue_depth{queue="worker_catalog_queue"} 3',
    'tasker_queue_depth{queue="worker_other_queue"} 0',
  ]);
  depths = { worker_catalog_queue: 7 };
  text = await registry.render();
  assert.deepEqual(samples(text, "tasker_queue_depth"), [
    'tasker_queue_depth{queue="worker_catalog_queue"} 7',
  ]);
  assert.equal(gauge.value({ queue: "worker_catalog_queue" }), 7);
  assert.equal(calls, 2);
});

Deno.test("a collect that throws or hangs renders no samples, is counted, and does not block the scrape", async () => {
  const registry = new MetricsRegistry({ collectTimeoutMs: 50 });
  let mode: "ok" | "throw" | "hang" = "ok";
  let release = () => {};
  registry.gauge({
    name: "depth",
    help: "h",
    labelNames: ["queue"],
    collect: (set) => {
      if (mode === "throw") throw new Error("database is down");
      if (mode === "hang") {
        return new Promise<void>((resolve) => {
          release = () => {
            set({ queue: "late" }, 99); // after the timeout: must not appear
            resolve();
          };
        });
      }
      set({ queue: "q" }, 1);
      return undefined;
    },
  });
  const other = registry.counter({ name: "other.total", help: "h" });
  other.inc();

  assert.deepEqual(samples(await registry.render(), "depth"), ['depth{queue="q"} 1']);
  mode = "throw";
  let text = await registry.render();
  assert.deepEqual(samples(text, "depth"), []);
  assert.ok(text.includes("other_total 1\n"));
  assert.ok(text.includes('wasm_broker_metric_collect_errors_total{metric="depth"} 1\n'));
  mode = "hang";
  text = await registry.render();
  assert.deepEqual(samples(text, "depth"), []);
  assert.ok(text.includes('wasm_broker_metric_collect_errors_total{metric="depth"} 2\n'));
  release();
  await Promise.resolve();
  mode = "ok";
  assert.deepEqual(samples(await registry.render(), "depth"), ['depth{queue="q"} 1']);
});

Deno.test("a collected gauge's output is capped like any other metric", async () => {
  const registry = new MetricsRegistry();
  registry.gauge({
    name: "many",
    help: "h",
    labelNames: ["queue"],
    maxSeries: 2,
    collect: (set) => {
      for (let i = 0; i < 10; i++) set({ queue: `q${i}` }, 1);
    },
  });
  const text = await registry.render();
  assert.equal(samples(text, "many{").length, 3);
  assert.ok(text.includes('many{queue="__overflow__"} 1\n'));
});

Deno.test("formatValue() writes infinities and NaN as the text format spells them", () => {
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(0.25), "0.25");
  assert.equal(formatValue(1e21), "1e+21");
});
