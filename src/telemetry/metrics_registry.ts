/**
 * A small Prometheus metrics registry: counters, gauges (set directly or
 * computed at scrape time), histograms with explicit buckets, rendered in the
 * text exposition format 0.0.4 (what `GET /metrics` serves).
 *
 * Names may use OpenTelemetry's dotted style — Tasker's
 * `tasker.steps.executions.total` is exposed as `tasker_steps_executions_total`
 * — and a `unit` is appended the way OpenTelemetry's Prometheus exporter does
 * it (`tasker.step.execution.duration` with unit `milliseconds` becomes
 * `tasker_step_execution_duration_milliseconds`), so dashboards written for
 * Tasker's own workers work unchanged.
 *
 * Label values often come from untrusted input (step names are written in
 * task templates), so memory is bounded: each metric keeps at most
 * `maxSeries` label combinations and label values are cut at
 * `maxLabelValueLength` characters. Observations for a new combination past
 * the cap go to one overflow series whose every label is `__overflow__` (so
 * totals stay right) and are counted in
 * `wasm_broker_metric_series_overflow_total{metric}`.
 *
 * @module
 */

/** A label value as callers pass it; it is rendered with `String()`. */
export type LabelValue = string | number | boolean;

/** The labels of one observation: every declared label name, nothing else. */
export type Labels<L extends string> = { readonly [K in L]: LabelValue };

/** Units appended to metric names, as OpenTelemetry's Prometheus exporter does. */
export type MetricUnit = "milliseconds" | "seconds" | "bytes";

/** Options shared by every metric kind. */
export interface MetricOptions<L extends string> {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*` once dots are turned into underscores. */
  name: string;
  /** One line for people (the `# HELP` line). */
  help: string;
  /** Fixed label names, `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`. Default none. */
  labelNames?: readonly L[];
  /** Appended to the name (before `_total` for counters) unless the name already ends with it. */
  unit?: MetricUnit;
  /** Most label combinations kept; default: the registry's `maxSeries` (1000). */
  maxSeries?: number;
}

/** Options for {@link MetricsRegistry.gauge}. */
export interface GaugeOptions<L extends string> extends MetricOptions<L> {
  /**
   * Computes the gauge at scrape time (queue depth, pool sizes). Each scrape
   * starts from no series: what `collect` sets is what is rendered. A
   * collect that throws or outlasts the registry's `collectTimeoutMs`
   * renders no samples and is counted in
   * `wasm_broker_metric_collect_errors_total{metric}`; `/metrics` never
   * hangs on a slow database.
   */
  collect?: (set: (labels: Labels<L>, value: number) => void) => void | Promise<void>;
}

/** Options for {@link MetricsRegistry.histogram}. */
export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds, strictly increasing and finite; `+Inf` is added. */
  buckets: readonly number[];
}

/** Options for {@link MetricsRegistry}. */
export interface MetricsRegistryOptions {
  /** Default cap on label combinations per metric. Default 1000. */
  maxSeries?: number;
  /** Label values longer than this many characters are cut. Default 256. */
  maxLabelValueLength?: number;
  /** How long a gauge's `collect` may take per scrape. Default 2000 ms. */
  collectTimeoutMs?: number;
}

/** The content type of {@link MetricsRegistry.render}'s output. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The label value of the series that absorbs observations past a metric's cap. */
export const OVERFLOW_LABEL_VALUE = "__overflow__";

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * The Prometheus name for a dotted (OpenTelemetry style) metric name.
 *
 * @example
 * ```ts
 * import { prometheusName } from "./metrics_registry.ts";
 * console.assert(prometheusName("tasker.steps.executions.total") === "tasker_steps_executions_total");
 * console.assert(
 *   prometheusName("tasker.step.execution.duration", { unit: "milliseconds" }) ===
 *     "tasker_step_execution_duration_milliseconds",
 * );
 * ```
 */
export function prometheusName(
  name: string,
  options: { unit?: MetricUnit; counter?: boolean } = {},
): string {
  let result = name.replaceAll(".", "_");
  if (!NAME_RE.test(result)) {
    throw new TypeError(
      `Cannot use metric name as it is not [a-zA-Z_:][a-zA-Z0-9_:]* after dots become underscores: current value is ${
        JSON.stringify(name)
      }`,
    );
  }
  const unit = options.unit;
  if (unit) {
    const total = options.counter && result.endsWith("_total");
    const stem = total ? result.slice(0, -"_total".length) : result;
    if (!stem.endsWith(`_${unit}`)) result = `${stem}_${unit}${total ? "_total" : ""}`;
  }
  return result;
}

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n"));
}

/** Escapes HELP text: backslash and line feed. */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === "\\" ? "\\\\" : "\\n"));
}

/** A sample value as the text format writes it (`+Inf`, `-Inf`, `NaN`). */
export function formatValue(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (Number.isNaN(value)) return "NaN";
  return String(value);
}

type MetricType = "counter" | "gauge" | "histogram";

interface SeriesEntry<S> {
  /** Label values in `labelNames` order, already cut and stringified. */
  values: string[];
  state: S;
}

/** The bookkeeping every metric kind shares: label checks, series map, cap. */
abstract class BaseMetric<L extends string, S> {
  /** The Prometheus name. */
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  abstract readonly type: MetricType;
  readonly #maxSeries: number;
  readonly #registry: RegistryHooks;
  protected series = new Map<string, SeriesEntry<S>>();

  constructor(
    options: MetricOptions<L>,
    name: string,
    registry: RegistryHooks,
    reserved: readonly string[],
  ) {
    this.name = name;
    this.help = options.help;
    this.labelNames = Object.freeze([...(options.labelNames ?? [])]);
    const seen = new Set<string>();
    for (const label of this.labelNames) {
      if (!LABEL_RE.test(label) || label.startsWith("__") || reserved.includes(label)) {
        throw new TypeError(
          `Cannot use label name for metric ${name} as it is not [a-zA-Z_][a-zA-Z0-9_]* or is reserved: current value is ${
            JSON.stringify(label)
          }`,
        );
      }
      if (seen.has(label)) {
        throw new TypeError(`Cannot declare label ${label} twice for metric ${name}`);
      }
      seen.add(label);
    }
    const maxSeries = options.maxSeries ?? registry.maxSeries;
    if (!Number.isInteger(maxSeries) || maxSeries < 1) {
      throw new RangeError(
        `Cannot use maxSeries for metric ${name} as it is not a positive integer: current value is ${maxSeries}`,
      );
    }
    this.#maxSeries = maxSeries;
    this.#registry = registry;
  }

  /** Label combinations currently held (the overflow series included). */
  get seriesCount(): number {
    return this.series.size;
  }

  /** The label values of `labels` in declaration order, checked, cut and stringified. */
  protected labelValues(labels: Labels<L> | undefined): string[] {
    const given = (labels ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(given)) {
      if (!(this.labelNames as readonly string[]).includes(key)) {
        throw new TypeError(
          `Cannot record ${this.name} as label ${key} is not declared: current labels are ${
            this.labelNames.join(", ") || "none"
          }`,
        );
      }
    }
    return this.labelNames.map((label) => {
      const value = given[label];
      if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
        throw new TypeError(
          `Cannot record ${this.name} as label ${label} is not a string, number or boolean: current value is ${typeof value}`,
        );
      }
      return cut(String(value), this.#registry.maxLabelValueLength);
    });
  }

  /** The state for `labels`, created on first use; past the cap, the overflow series. */
  protected entry(
    target: Map<string, SeriesEntry<S>>,
    labels: Labels<L> | undefined,
    init: () => S,
  ): S {
    const values = this.labelValues(labels);
    const key = JSON.stringify(values);
    const found = target.get(key);
    if (found) return found.state;
    if (target.size >= this.#maxSeries) {
      this.#registry.overflowed(this.name);
      const overflowValues = values.map(() => OVERFLOW_LABEL_VALUE);
      const overflowKey = JSON.stringify(overflowValues);
      const overflow = target.get(overflowKey);
      if (overflow) return overflow.state;
      const state = init();
      target.set(overflowKey, { values: overflowValues, state });
      return state;
    }
    const state = init();
    target.set(key, { values, state });
    return state;
  }

  /** The existing state for `labels`, without creating it. */
  protected peek(labels: Labels<L> | undefined): S | undefined {
    return this.series.get(JSON.stringify(this.labelValues(labels)))?.state;
  }

  /** Called before rendering; collected gauges compute their series here. */
  prepare(_timeoutMs: number): Promise<void> {
    return Promise.resolve();
  }

  /** The sample lines (no HELP/TYPE). */
  abstract samples(): string[];

  protected labelText(values: readonly string[], extra?: [string, string]): string {
    const pairs = this.labelNames.map((label, i) => `${label}="${escapeLabelValue(values[i])}"`);
    if (extra) pairs.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
    return pairs.length ? `{${pairs.join(",")}}` : "";
  }
}

/** A monotonically increasing count. */
export class Counter<L extends string = never> extends BaseMetric<L, { value: number }> {
  readonly type = "counter" as const;

  /** @internal Created through {@link MetricsRegistry.counter}. */
  constructor(options: MetricOptions<L>, name: string, registry: RegistryHooks) {
    super(options, name, registry, []);
  }

  /** Adds `value` (default 1; must be finite and ≥ 0). */
  inc(labels?: Labels<L>, value = 1): void {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(
        `Cannot increase counter ${this.name} as the amount is not finite and >= 0: current value is ${value}`,
      );
    }
    this.entry(this.series, labels, () => ({ value: 0 })).value += value;
  }

  /** The current value for `labels` (0 when never incremented). */
  value(labels?: Labels<L>): number {
    return this.peek(labels)?.value ?? 0;
  }

  samples(): string[] {
    if (this.series.size === 0 && this.labelNames.length === 0) return [`${this.name} 0`];
    return [...this.series.values()].map((s) =>
      `${this.name}${this.labelText(s.values)} ${formatValue(s.state.value)}`
    );
  }
}

/** A value that goes up and down, set directly or computed at scrape time. */
export class Gauge<L extends string = never> extends BaseMetric<L, { value: number }> {
  readonly type = "gauge" as const;
  readonly #collect: GaugeOptions<L>["collect"];
  readonly #registry: RegistryHooks;

  /** @internal Created through {@link MetricsRegistry.gauge}. */
  constructor(options: GaugeOptions<L>, name: string, registry: RegistryHooks) {
    super(options, name, registry, []);
    this.#collect = options.collect;
    this.#registry = registry;
  }

  /** Sets the value for `labels`. */
  set(labels: Labels<L> | undefined, value: number): void {
    this.#direct("set");
    checkNumber(this.name, value);
    this.entry(this.series, labels, () => ({ value: 0 })).value = value;
  }

  /** Adds `value` (default 1). */
  inc(labels?: Labels<L>, value = 1): void {
    this.#direct("inc");
    checkNumber(this.name, value);
    this.entry(this.series, labels, () => ({ value: 0 })).value += value;
  }

  /** Subtracts `value` (default 1). */
  dec(labels?: Labels<L>, value = 1): void {
    this.#direct("dec");
    checkNumber(this.name, value);
    this.entry(this.series, labels, () => ({ value: 0 })).value -= value;
  }

  /** The current value for `labels` (0 when never set; the last scrape's for a collected gauge). */
  value(labels?: Labels<L>): number {
    return this.peek(labels)?.value ?? 0;
  }

  #direct(op: string): void {
    if (this.#collect) {
      throw new TypeError(`Cannot ${op} gauge ${this.name} as its value is computed by collect`);
    }
  }

  override async prepare(timeoutMs: number): Promise<void> {
    const collect = this.#collect;
    if (!collect) return;
    // A scrape-local map: a collect that finishes after its timeout writes
    // into a map nobody reads any more.
    const fresh = new Map<string, SeriesEntry<{ value: number }>>();
    const set = (labels: Labels<L>, value: number) => {
      checkNumber(this.name, value);
      this.entry(fresh, labels, () => ({ value: 0 })).value = value;
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        Promise.resolve().then(() => collect(set)),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`collect took longer than ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
      this.series = fresh;
    } catch {
      this.series = new Map();
      this.#registry.collectFailed(this.name);
    } finally {
      clearTimeout(timer);
    }
  }

  samples(): string[] {
    if (this.series.size === 0 && this.labelNames.length === 0 && !this.#collect) {
      return [`${this.name} 0`];
    }
    return [...this.series.values()].map((s) =>
      `${this.name}${this.labelText(s.values)} ${formatValue(s.state.value)}`
    );
  }
}

interface HistogramState {
  /** Observations per bucket (not cumulative); the last slot is `+Inf`. */
  counts: number[];
  sum: number;
  count: number;
}

/** A snapshot of one histogram series. */
export interface HistogramSnapshot {
  count: number;
  sum: number;
  /** Cumulative counts per upper bound, `+Inf` last. */
  buckets: { le: number; count: number }[];
}

/** Observations counted into explicit buckets, with their sum and count. */
export class Histogram<L extends string = never> extends BaseMetric<L, HistogramState> {
  readonly type = "histogram" as const;
  readonly buckets: readonly number[];

  /** @internal Created through {@link MetricsRegistry.histogram}. */
  constructor(options: HistogramOptions<L>, name: string, registry: RegistryHooks) {
    super(options, name, registry, ["le"]);
    const buckets = [...options.buckets];
    if (buckets.length === 0) {
      throw new RangeError(`Cannot create histogram ${name} as it has no buckets`);
    }
    for (let i = 0; i < buckets.length; i++) {
      if (!Number.isFinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1])) {
        throw new RangeError(
          `Cannot create histogram ${name} as its buckets are not finite and strictly increasing: current value is [${
            buckets.join(", ")
          }]`,
        );
      }
    }
    this.buckets = Object.freeze(buckets);
  }

  /** Records one observation. */
  observe(labels: Labels<L> | undefined, value: number): void {
    checkNumber(this.name, value);
    const state = this.entry(this.series, labels, () => ({
      counts: new Array(this.buckets.length + 1).fill(0),
      sum: 0,
      count: 0,
    }));
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]) i++;
    state.counts[i]++;
    state.sum += value;
    state.count++;
  }

  /** The series for `labels`, or `undefined` when nothing was observed. */
  snapshot(labels?: Labels<L>): HistogramSnapshot | undefined {
    const state = this.peek(labels);
    if (!state) return undefined;
    let running = 0;
    const buckets = [...this.buckets, Infinity].map((le, i) => {
      running += state.counts[i];
      return { le, count: running };
    });
    return { count: state.count, sum: state.sum, buckets };
  }

  samples(): string[] {
    const lines: string[] = [];
    for (const { values, state } of this.series.values()) {
      let running = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        running += state.counts[i];
        const le = i < this.buckets.length ? formatValue(this.buckets[i]) : "+Inf";
        lines.push(`${this.name}_bucket${this.labelText(values, ["le", le])} ${running}`);
      }
      lines.push(`${this.name}_sum${this.labelText(values)} ${formatValue(state.sum)}`);
      lines.push(`${this.name}_count${this.labelText(values)} ${state.count}`);
    }
    return lines;
  }
}

/** What metrics need from their registry. */
interface RegistryHooks {
  readonly maxSeries: number;
  readonly maxLabelValueLength: number;
  overflowed(metric: string): void;
  collectFailed(metric: string): void;
}

// deno-lint-ignore no-explicit-any
type AnyMetric = Counter<any> | Gauge<any> | Histogram<any>;

/**
 * Holds metrics and renders them for Prometheus.
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "./metrics_registry.ts";
 * const registry = new MetricsRegistry();
 * const claimed = registry.counter({
 *   name: "tasker.steps.claimed.total",
 *   help: "Steps claimed",
 *   labelNames: ["namespace", "claim_method"],
 * });
 * claimed.inc({ namespace: "catalog", claim_method: "event" });
 * const text = await registry.render();
 * console.assert(text.includes('tasker_steps_claimed_total{namespace="catalog",claim_method="event"} 1'));
 * ```
 */
export class MetricsRegistry {
  readonly #metrics = new Map<string, AnyMetric>();
  readonly #hooks: RegistryHooks;
  readonly #collectTimeoutMs: number;
  readonly #overflow: Counter<"metric">;
  readonly #collectErrors: Counter<"metric">;

  constructor(options: MetricsRegistryOptions = {}) {
    const maxSeries = options.maxSeries ?? 1000;
    const maxLabelValueLength = options.maxLabelValueLength ?? 256;
    this.#collectTimeoutMs = options.collectTimeoutMs ?? 2000;
    for (
      const [field, value] of [
        ["maxSeries", maxSeries],
        ["maxLabelValueLength", maxLabelValueLength],
        ["collectTimeoutMs", this.#collectTimeoutMs],
      ] as const
    ) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(
          `Cannot create the metrics registry as ${field} is not a positive integer: current value is ${value}`,
        );
      }
    }
    this.#hooks = {
      maxSeries,
      maxLabelValueLength,
      overflowed: (metric) => this.#overflow.inc({ metric }),
      collectFailed: (metric) => this.#collectErrors.inc({ metric }),
    };
    // Their label is a metric name, set by code, so their cardinality is the
    // number of metrics.
    this.#overflow = this.counter({
      name: "wasm_broker.metric.series_overflow.total",
      help: "Observations folded into a metric's overflow series because it reached its series cap",
      labelNames: ["metric"],
      maxSeries: 10_000,
    });
    this.#collectErrors = this.counter({
      name: "wasm_broker.metric.collect_errors.total",
      help: "Scrapes where a computed gauge's collect failed or timed out",
      labelNames: ["metric"],
      maxSeries: 10_000,
    });
  }

  /** Registers a counter. Duplicate names are errors. */
  counter<L extends string = never>(options: MetricOptions<L>): Counter<L> {
    const name = prometheusName(options.name, { unit: options.unit, counter: true });
    return this.#add(new Counter<L>(options, name, this.#hooks));
  }

  /** Registers a gauge; with `collect`, its value is computed at each scrape. */
  gauge<L extends string = never>(options: GaugeOptions<L>): Gauge<L> {
    const name = prometheusName(options.name, { unit: options.unit });
    return this.#add(new Gauge<L>(options, name, this.#hooks));
  }

  /** Registers a histogram. */
  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
    const name = prometheusName(options.name, { unit: options.unit });
    return this.#add(new Histogram<L>(options, name, this.#hooks));
  }

  /** The metric registered under a (Prometheus or dotted) name. */
  get(name: string): AnyMetric | undefined {
    return this.#metrics.get(name.replaceAll(".", "_"));
  }

  /** Every metric in registration order, in the text exposition format 0.0.4. */
  async render(): Promise<string> {
    const metrics = [...this.#metrics.values()];
    await Promise.all(metrics.map((m) => m.prepare(this.#collectTimeoutMs)));
    const lines: string[] = [];
    for (const metric of metrics) {
      lines.push(`# HELP ${metric.name} ${escapeHelp(metric.help)}`);
      lines.push(`# TYPE ${metric.name} ${metric.type}`);
      lines.push(...metric.samples());
    }
    return lines.join("\n") + "\n";
  }

  #add<M extends AnyMetric>(metric: M): M {
    const clash = this.#clash(metric);
    if (clash) {
      throw new TypeError(
        `Cannot register metric ${metric.name} as its name clashes with the registered ${clash}`,
      );
    }
    this.#metrics.set(metric.name, metric);
    return metric;
  }

  /** A registered name that equals one of the names `metric` renders, or vice versa. */
  #clash(metric: AnyMetric): string | undefined {
    const rendered = (m: AnyMetric) =>
      m.type === "histogram" ? [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [
        m.name,
      ];
    const mine = new Set(rendered(metric));
    for (const other of this.#metrics.values()) {
      if (rendered(other).some((n) => mine.has(n))) return other.name;
    }
    return undefined;
  }
}

function checkNumber(name: string, value: number): void {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new RangeError(
      `Cannot record ${name} as the value is not a number: current value is ${value}`,
    );
  }
}

/** Cuts `text` to `max` UTF-16 units without splitting a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return text.slice(0, end);
}
