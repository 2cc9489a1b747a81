/// <reference path="./portable.d.ts" />
/**
 * The step envelope every catalog handler reads:
 * `{context, deps, step: {name, attempts, max_attempts, inputs}, config}`,
 * where `deps` maps dependency step names to their results' `.result`.
 */
import { JsonValue } from "./json_value.ts";

/** Typed access to an envelope; missing members read as null / empty objects. */
export class Envelope {
  readonly root: JsonValue;

  constructor(root: JsonValue) {
    this.root = root;
  }

  member(name: string): JsonValue {
    if (!this.root.isObject()) return JsonValue.null();
    const v = this.root.get(name);
    return v == null ? JsonValue.null() : v;
  }

  context(): JsonValue {
    return this.member("context");
  }

  deps(): JsonValue {
    return this.member("deps");
  }

  config(): JsonValue {
    const c = this.member("config");
    return c.isNull() ? JsonValue.object() : c;
  }

  step(): JsonValue {
    return this.member("step");
  }

  /** `step.attempts` (0 when absent). */
  attempts(): f64 {
    const s = this.step();
    const a = s.isObject() ? s.get("attempts") : null;
    return a != null && a.isNumber() ? a.num : 0;
  }
}
