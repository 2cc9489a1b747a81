/**
 * An OpenTelemetry tracer for tests that keeps every span it starts, with
 * what was done to it (attributes, status, end), so a test can read the
 * span tree a piece of code made.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type Attributes,
  type AttributeValue,
  type Context,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  SpanStatusCode,
  type TimeInput,
  trace,
  type Tracer,
} from "@opentelemetry/api";

/** A span that remembers what was done to it. */
export class RecordedSpan implements Span {
  attributes: Attributes = {};
  status: SpanStatus = { code: SpanStatusCode.UNSET };
  ended = 0;
  endTime: TimeInput | undefined;
  readonly #context: SpanContext;

  constructor(
    readonly name: string,
    readonly parentId: string | undefined,
    readonly startTime: TimeInput | undefined,
    id: number,
  ) {
    this.#context = {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: id.toString(16).padStart(16, "0"),
      traceFlags: 1,
    };
  }
  spanContext(): SpanContext {
    return this.#context;
  }
  setAttribute(key: string, value: AttributeValue): this {
    this.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes): this {
    Object.assign(this.attributes, attributes);
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.status = status;
    return this;
  }
  updateName(): this {
    return this;
  }
  end(endTime?: TimeInput): void {
    this.ended++;
    this.endTime = endTime;
  }
  isRecording(): boolean {
    return true;
  }
  recordException(): void {}
}

/** A tracer that keeps every span it starts. */
export class RecordingTracer implements Tracer {
  spans: RecordedSpan[] = [];
  startSpan(name: string, options: SpanOptions = {}, ctx: Context = ROOT_CONTEXT): Span {
    const parent = trace.getSpan(ctx)?.spanContext().spanId;
    const span = new RecordedSpan(name, parent, options.startTime, this.spans.length + 1);
    if (options.attributes) span.setAttributes(options.attributes);
    this.spans.push(span);
    return span;
  }
  startActiveSpan(): never {
    throw new Error("not used");
  }
  byName(name: string): RecordedSpan[] {
    return this.spans.filter((s) => s.name === name);
  }
  one(name: string): RecordedSpan {
    const found = this.byName(name);
    assert.equal(found.length, 1, `one ${name} span`);
    return found[0];
  }
}
