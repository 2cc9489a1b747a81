/**
 * Converts between JavaScript values and the portable {@link JsonValue}, for
 * the native build and for tests. Not part of the wasm build.
 *
 * @module
 */
import "./portable_runtime.ts";
import { JsonValue, Kind } from "../core/json_value.ts";

/** Converts a JSON-compatible JavaScript value (as from `JSON.parse`). */
export function fromJs(value: unknown): JsonValue {
  if (value === null) return JsonValue.null();
  switch (typeof value) {
    case "boolean":
      return JsonValue.bool(value);
    case "number":
      if (!Number.isFinite(value)) {
        throw new TypeError(`Cannot convert ${value} to JSON as it is not a finite number`);
      }
      return JsonValue.number(value);
    case "string":
      return JsonValue.string(value);
    case "object": {
      if (Array.isArray(value)) return JsonValue.array(value.map(fromJs));
      const out = JsonValue.object();
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) out.set(k, fromJs(v));
      return out;
    }
    default:
      throw new TypeError(`Cannot convert a ${typeof value} to JSON`);
  }
}

/** Converts back to plain JavaScript values (objects keep key order). */
export function toJs(value: JsonValue): unknown {
  switch (value.kind) {
    case Kind.Null:
      return null;
    case Kind.False:
      return false;
    case Kind.True:
      return true;
    case Kind.Number:
      return value.num;
    case Kind.String:
      return value.str;
    case Kind.Array:
      return value.items!.map(toJs);
    default: {
      const out: Record<string, unknown> = {};
      const keys = value.keys!;
      const vals = value.vals!;
      for (let i = 0; i < keys.length; i++) {
        // defineProperty keeps "__proto__" an ordinary key.
        Object.defineProperty(out, keys[i], {
          value: toJs(vals[i]),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
  }
}
