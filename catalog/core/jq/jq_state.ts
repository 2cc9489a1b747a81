/// <reference path="../portable.d.ts" />
/**
 * Mutable state of one filter run: the pending error (jq errors are values
 * that unwind the evaluation), the label counter and recursion depth.
 */
import { JsonValue } from "../json_value.ts";

/** Continuation status: go on. */
export const OK: i32 = 0;
/** Continuation status: an error is pending in {@link JqState.err}; unwind. */
export const ERR: i32 = 1;

/**
 * How deeply evaluations may nest before a run fails with a runtime error.
 * Each level costs native stack in both builds; 1000 keeps well inside the
 * default stack (measured: the worst patterns overflow natively past ~2000)
 * and allows about 250-330 levels of recursion in jq-defined functions.
 */
export const MAX_DEPTH: i32 = 1000;

/** The state of one run. */
export class JqState {
  /** The pending error value (a message string, or the value given to `error`). */
  err: JsonValue | null = null;
  /** Offset in the filter of the construct that raised the pending error. */
  errOffset: i32 = -1;
  /** Next label id (`label` and the built-ins jq 1.6 defines with labels take one each). */
  labels: i32 = 0;
  /** Current nesting of evaluations (guards the native stack). */
  depth: i32 = 0;
  /**
   * The last long string sliced, with its code point → UTF-16 index map
   * (null when it has no surrogates): `$s[a:b]` in a loop stays linear.
   */
  sliced: JsonValue | null = null;
  slicedUnits: Array<i32> | null = null;
  slicedLength: i32 = 0;

  /**
   * Enters one level of a recursive built-in (`..`, `walk`): false, with an
   * error raised, past {@link MAX_DEPTH}. Pair every true with {@link leave}.
   */
  enter(offset: i32): bool {
    if (this.depth >= MAX_DEPTH) {
      this.fail(
        "Cannot evaluate the filter as it nests deeper than " + MAX_DEPTH.toString() +
          " levels: current depth is " + this.depth.toString(),
        offset,
      );
      return false;
    }
    this.depth++;
    return true;
  }

  leave(): void {
    this.depth--;
  }

  /** Raises a jq error with a string message; returns {@link ERR}. */
  fail(message: string, offset: i32): i32 {
    this.err = JsonValue.string(message);
    this.errOffset = offset;
    return ERR;
  }

  /** Raises `value` as a jq error (what `error(value)` does); returns {@link ERR}. */
  raise(value: JsonValue, offset: i32): i32 {
    this.err = value;
    this.errOffset = offset;
    return ERR;
  }

  /** Takes the pending error away (a `try` caught it). */
  take(): JsonValue {
    const e = this.err!;
    this.err = null;
    this.errOffset = -1;
    return e;
  }

  /** The error value jq 1.6 raises for `break $label` (label ids are `{"__jq": n}`). */
  labelValue(id: i32): JsonValue {
    return JsonValue.object().set("__jq", JsonValue.number(f64(id)));
  }

  /** Whether the pending error is the `break` of label `id`. */
  isBreak(id: i32): bool {
    const e = this.err;
    if (e == null || !e.isObject() || e.size() != 1) return false;
    const v = e.get("__jq");
    return v != null && v.isNumber() && v.num == f64(id);
  }
}
