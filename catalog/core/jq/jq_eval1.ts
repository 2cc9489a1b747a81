/// <reference path="../portable.d.ts" />
/**
 * Direct evaluation of the nodes `jq_analyze.ts` marked `one` (at most one
 * output, no `try` active while it is passed on): returns the output, or
 * null for "no output" — an error is pending on `st` when there was one.
 * It evaluates in the same order as the continuation-passing evaluator, so
 * the first error raised is the same.
 */
import { JsonValue, Kind } from "../json_value.ts";
import { JqFunc, JqNode, Op, TEXT_PART } from "./jq_ast.ts";
import { dumpJq } from "./jq_dump.ts";
import { evNode, matchPattern, runReduce } from "./jq_eval.ts";
import { applyFormat } from "./jq_formats.ts";
import { typeErrorText } from "./jq_messages.ts";
import { jqBinary, jqIndex, jqNegate } from "./jq_ops.ts";
import { Bind, bindVar, BoundK, CollectK, Env, K, lookup, PathState } from "./jq_runtime.ts";
import { JqState, MAX_DEPTH, OK } from "./jq_state.ts";

/** Evaluates a `one` node directly. */
export function ev1(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  env: Env | null,
): JsonValue | null {
  if (++st.depth > MAX_DEPTH) {
    st.depth--;
    st.fail(
      "Cannot evaluate the filter as it nests deeper than " + MAX_DEPTH.toString() +
        " levels: current depth is " + st.depth.toString(),
      node.offset,
    );
    return null;
  }
  const r = ev1Node(st, node, input, env);
  st.depth--;
  return r;
}

function ev1Node(st: JqState, node: JqNode, input: JsonValue, env: Env | null): JsonValue | null {
  switch (node.op) {
    case Op.Identity:
      return input;
    case Op.Literal:
      return node.value;
    case Op.Var:
      return lookup(env, node.id).value;
    case Op.Field: {
      const t = node.a!.op == Op.Identity ? input : ev1(st, node.a!, input, env);
      if (t == null) return null;
      return index(st, node, t, node.value!);
    }
    case Op.Index: {
      const keyNode = node.b!;
      const key = keyNode.op == Op.Literal ? keyNode.value : ev1(st, keyNode, input, env);
      if (key == null) return null;
      const t = node.a!.op == Op.Identity ? input : ev1(st, node.a!, input, env);
      if (t == null) return null;
      return index(st, node, t, key);
    }
    case Op.Slice: {
      let from = JsonValue.null();
      if (node.b != null) {
        const f = ev1(st, node.b!, input, env);
        if (f == null) return null;
        from = f;
      }
      let to = JsonValue.null();
      if (node.c != null) {
        const t = ev1(st, node.c!, input, env);
        if (t == null) return null;
        to = t;
      }
      const t = node.a!.op == Op.Identity ? input : ev1(st, node.a!, input, env);
      if (t == null) return null;
      const key = JsonValue.object().set("start", from).set("end", to);
      return index(st, node, t, key);
    }
    case Op.Pipe: {
      const v = ev1(st, node.a!, input, env);
      if (v == null) return null;
      return ev1(st, node.b!, v, env);
    }
    case Op.Neg: {
      const v = ev1(st, node.a!, input, env);
      if (v == null) return null;
      return jqNegate(st, v, node.offset);
    }
    case Op.Binary: {
      const rhs = ev1(st, node.b!, input, env);
      if (rhs == null) return null;
      const lhs = ev1(st, node.a!, input, env);
      if (lhs == null) return null;
      return jqBinary(st, node.num, lhs, rhs, node.offset);
    }
    case Op.And:
    case Op.Or: {
      const a = ev1(st, node.a!, input, env);
      if (a == null) return null;
      if (node.op == Op.And && !a.isTruthy()) return JsonValue.bool(false);
      if (node.op == Op.Or && a.isTruthy()) return JsonValue.bool(true);
      const b = ev1(st, node.b!, input, env);
      if (b == null) return null;
      return JsonValue.bool(b.isTruthy());
    }
    case Op.Alt: {
      const a = ev1(st, node.a!, input, env);
      if (a != null && a.isTruthy()) return a;
      if (st.err != null) return null;
      return ev1(st, node.b!, input, env);
    }
    case Op.If: {
      const c = ev1(st, node.a!, input, env);
      if (c == null) return null;
      return ev1(st, c.isTruthy() ? node.b! : node.c!, input, env);
    }
    case Op.Array: {
      const out = new CollectK();
      if (evNode(st, node, input, null, env, out) != OK) return null;
      return out.items[0];
    }
    case Op.Object:
      return object(st, node, input, env);
    case Op.Interp:
      return interp(st, node, input, env);
    case Op.Format: {
      const s = applyFormat(st, node.str, input, node.offset);
      if (s == null) return null;
      return JsonValue.string(s);
    }
    case Op.Reduce: {
      const init = ev1(st, node.b!, input, env);
      if (init == null) return null;
      return runReduce(st, node, input, init, null, env);
    }
    case Op.Bind: {
      const src = ev1(st, node.a!, input, env);
      if (src == null) return null;
      const b = new CaptureEnvK();
      if (matchPattern(st, node.pattern!, src, env, b) != OK) return null;
      if (!b.matched) return null;
      return ev1(st, node.b!, input, b.env);
    }
    case Op.FuncDef: {
      const f = node.func!;
      const frame = new Env(env, f.id, Bind.Func);
      frame.func = f;
      return ev1(st, node.a!, input, frame);
    }
    case Op.Call: {
      const f = node.func;
      if (node.builtin < 0 && f != null) {
        if (f.global) return call1(st, f, node, input, null, env);
        const frame = lookup(env, node.id);
        if (frame.kind == Bind.Func) return call1(st, frame.func!, node, input, frame, env);
      }
      return fallback(st, node, input, env);
    }
    case Op.Break:
      st.raise(st.labelValue(lookup(env, node.id).label), node.offset);
      return null;
    default:
      return fallback(st, node, input, env);
  }
}

/** Anything else (built-ins, assignments): the continuation evaluator, keeping its one output. */
function fallback(st: JqState, node: JqNode, input: JsonValue, env: Env | null): JsonValue | null {
  const one = new OneK();
  if (evNode(st, node, input, null, env, one) != OK) return null;
  return one.value;
}

function index(st: JqState, node: JqNode, t: JsonValue, key: JsonValue): JsonValue | null {
  const v = jqIndex(st, t, key, node.offset);
  if (v == null && node.opt) st.take();
  return v;
}

function object(st: JqState, node: JqNode, input: JsonValue, env: Env | null): JsonValue | null {
  const list = node.list!;
  const out = JsonValue.object();
  for (let i = 0; i < list.length; i += 2) {
    const keyNode = list[i]!;
    const key = keyNode.op == Op.Literal ? keyNode.value : ev1(st, keyNode, input, env);
    if (key == null) return null;
    const valueNode = list[i + 1];
    let value: JsonValue | null;
    if (valueNode == null) value = jqIndex(st, input, key, node.offset);
    else if (valueNode.op == Op.Literal) value = valueNode.value;
    else value = ev1(st, valueNode, input, env);
    if (value == null) return null;
    if (key.kind != Kind.String) {
      st.fail("Cannot use " + typeErrorText(key) + " as object key", node.offset);
      return null;
    }
    out.set(key.str, value);
  }
  return out;
}

function interp(st: JqState, node: JqNode, input: JsonValue, env: Env | null): JsonValue | null {
  const parts = node.list!;
  const texts = new Array<string>(parts.length);
  // The last interpolation is evaluated first, as in the continuation evaluator.
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i]!;
    if (part.flags == TEXT_PART) {
      texts[i] = part.value!.str;
      continue;
    }
    const v = ev1(st, part, input, env);
    if (v == null) return null;
    if (node.str == "text") {
      texts[i] = v.kind == Kind.String ? v.str : dumpJq(v);
    } else {
      const s = applyFormat(st, node.str, v, node.offset);
      if (s == null) return null;
      texts[i] = s;
    }
  }
  return JsonValue.string(texts.join(""));
}

/** Calls a jq-defined function whose body is `one`. */
function call1(
  st: JqState,
  f: JqFunc,
  call: JqNode,
  input: JsonValue,
  defEnv: Env | null,
  callerEnv: Env | null,
): JsonValue | null {
  let env = defEnv;
  const args = call.list!;
  for (let i = 0; i < f.params.length; i++) {
    const c = new Env(env, f.paramIds[i], Bind.Closure);
    c.node = args[i];
    c.nodeEnv = callerEnv;
    env = c;
  }
  for (let i = 0; i < f.params.length; i++) {
    if (!f.paramIsVar[i]) continue;
    const v = ev1(st, args[i]!, input, callerEnv);
    if (v == null) return null;
    env = bindVar(env, f.paramVarIds[i], v);
  }
  return ev1(st, f.body!, input, env);
}

/** Keeps the (single) output. */
class OneK extends K {
  value: JsonValue | null = null;

  override emit(_st: JqState, v: JsonValue, _p: PathState | null): i32 {
    this.value = v;
    return OK;
  }
}

class CaptureEnvK extends BoundK {
  env: Env | null = null;
  matched: bool = false;

  override bound(_st: JqState, env: Env | null): i32 {
    this.env = env;
    this.matched = true;
    return OK;
  }
}
