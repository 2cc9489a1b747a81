/// <reference path="../portable.d.ts" />
/**
 * `sub` and `gsub` with jq 1.6's semantics, computed iteratively. jq 1.6
 * defines them recursively (`$in[0:offset] + s + ($in[$len:] | mysub)`),
 * which means: each search runs on the remaining text (so `^` matches at
 * the start of every remainder), the replacement `s` runs on an object of
 * the named captures, every output of `s` is used (the first match's
 * outputs varying fastest), and a non-string replacement is an error.
 */
import { JsonValue, Kind } from "../json_value.ts";
// deno-lint-ignore verbatim-module-syntax
import { JqNode } from "./jq_ast.ts";
import { ev } from "./jq_eval.ts";
import { typeErrorText } from "./jq_messages.ts";
import { jqAdd, jqIndex } from "./jq_ops.ts";
import {
  codePoints,
  codePointText,
  matchImpl,
  regexFlags,
  regexProgram,
  RxMatcher,
} from "./jq_regex_match.ts";
import { CollectK, Env, K, PathState } from "./jq_runtime.ts";
import { ERR, JqState, OK } from "./jq_state.ts";
import { byteIndices } from "./jq_strings.ts";

/**
 * Runs `sub($re; s; flags)` for one value of `$re` and one value of
 * `flags` (as `flags | index("g")` and `flags` again).
 */
export function substitute(
  st: JqState,
  input: JsonValue,
  re: JsonValue,
  s: JqNode,
  gsFlags: JsonValue,
  flaFlags: JsonValue,
  env: Env | null,
  path: PathState | null,
  k: K,
  at: i32,
): i32 {
  // (flags | index("g")) as $gs
  let gs: JsonValue | null;
  if (gsFlags.kind == Kind.String) {
    const idx = byteIndices(gsFlags.str, "g");
    gs = idx.length > 0 ? JsonValue.number(f64(idx[0])) : JsonValue.null();
  } else {
    gs = jqIndex(st, gsFlags, JsonValue.string("g"), at);
    if (gs == null) return ERR;
  }
  const global = gs!.isTruthy();
  // (flags | if $gs then subg else . end) as $fla
  let fla = flaFlags;
  if (global) {
    if (flaFlags.kind != Kind.String) return st.fail("explode input must be a string", at);
    fla = JsonValue.string(flaFlags.str.split("g").join(""));
  }
  if (input.kind != Kind.String) {
    return st.fail(typeErrorText(input) + " cannot be matched, as it is not a string", at);
  }
  if (re.kind != Kind.String) return st.fail(typeErrorText(re) + " is not a string", at);
  const flags = regexFlags(st, fla, at);
  if (flags == null) return ERR;
  const prog = regexProgram(st, re.str, flags, at);
  if (prog == null) return ERR;
  const cps = codePoints(input.str);
  const prefixes = new Array<string>();
  const captures = new Array<JsonValue>();
  let rest = 0;
  const m = new RxMatcher(prog, cps, 0, cps.length);
  m.notEmpty = flags.notEmpty;
  while (true) {
    // Each search sees only the remaining text (jq matches on `$in[$len:]`).
    m.base = rest;
    const found = m.search(rest, flags.longest);
    if (found == -2) return st.fail("Regex failure: retry-limit-in-match over", at);
    if (found < 0) break;
    const start = m.regs[0];
    const end = m.regs[1];
    if (global && start == rest && end == rest && rest < cps.length) {
      // An empty match at the start of the remainder: jq 1.6 recurses on the same text forever.
      return st.fail(
        "Cannot substitute as the pattern matches an empty string at offset " + rest.toString() +
          " (jq 1.6 does not terminate)",
        at,
      );
    }
    prefixes.push(codePointText(cps, rest, start));
    captures.push(captureObject(prog.groups, prog.names, prog.nameGroups, m.regs, cps, start, end));
    rest = end;
    if (rest >= cps.length || !global) break;
  }
  const tail = codePointText(cps, rest, cps.length);
  const n = prefixes.length;
  if (n == 0) return k.emit(st, input, path);
  // The replacement for each match, evaluated from the last match back (as jq does).
  const outs = new Array<Array<JsonValue>>(n);
  for (let i = n - 1; i >= 0; i--) {
    const c = new CollectK();
    const r = ev(st, s, captures[i], null, env, c);
    if (r != OK) return r;
    if (c.items.length == 0) return OK;
    outs[i] = c.items;
  }
  // Every combination, the first match's replacement varying fastest.
  const pick = new Array<i32>(n);
  for (let i = 0; i < n; i++) pick[i] = 0;
  const parts = new Array<string>();
  let more = true;
  while (more) {
    // jq adds from the last match back: the first bad replacement there is the error.
    for (let i = n - 1; i >= 0; i--) {
      const v = outs[i][pick[i]];
      if (v.kind != Kind.String && v.kind != Kind.Null) {
        if (jqAdd(st, JsonValue.string(prefixes[i]), v, at) == null) return ERR;
      }
    }
    parts.length = 0;
    for (let i = 0; i < n; i++) {
      parts.push(prefixes[i]);
      const v = outs[i][pick[i]];
      if (v.kind == Kind.String) parts.push(v.str);
    }
    parts.push(tail);
    const r = k.emit(st, JsonValue.string(parts.join("")), path);
    if (r != OK) return r;
    let level = 0;
    while (level < n) {
      pick[level]++;
      if (pick[level] < outs[level].length) break;
      pick[level] = 0;
      level++;
    }
    more = level < n;
  }
  return OK;
}

/** `reduce (.captures[] | select(.name != null) | {(.name): .string}) as $p ({}; . + $p)`. */
function captureObject(
  groups: i32,
  names: Array<string>,
  nameGroups: Array<i32>,
  regs: Array<i32>,
  cps: Array<i32>,
  start: i32,
  end: i32,
): JsonValue {
  const out = JsonValue.object();
  // A zero-length match has no captures in jq 1.6.
  if (end == start) return out;
  for (let g = 1; g <= groups; g++) {
    for (let j = 0; j < names.length; j++) {
      if (nameGroups[j] != g) continue;
      const cs = regs[2 * g];
      const ce = regs[2 * g + 1];
      const v = cs < 0 || ce < 0 ? JsonValue.null() : JsonValue.string(codePointText(cps, cs, ce));
      out.set(names[j], v);
    }
  }
  return out;
}

/**
 * `sub($re; s)` as jq 1.6 binds it (its first definition): `[match($re)]`,
 * then `$in[0:offset] + s + $in[offset+length:]` for the first match, once
 * per output of `s`. `$re` may be a string or `[regex, flags]`.
 */
export function substituteFirst(
  st: JqState,
  input: JsonValue,
  re: JsonValue,
  s: JqNode,
  env: Env | null,
  path: PathState | null,
  k: K,
  at: i32,
): i32 {
  let pattern = re;
  let flags = JsonValue.null();
  if (re.kind == Kind.Array && re.items!.length > 0) {
    pattern = re.items![0];
    if (re.items!.length > 1) flags = re.items![1];
  } else if (re.kind != Kind.String) {
    return st.fail(re.typeName() + " not a string or array", at);
  }
  const matches = matchImpl(st, input, pattern, flags, JsonValue.bool(false), at);
  if (matches == null) return ERR;
  const all = matches.items!;
  if (all.length == 0) return k.emit(st, input, path);
  const m = all[0];
  const offset = m.get("offset")!.num;
  const length = m.get("length")!.num;
  const caps = m.get("captures")!.items!;
  const captured = JsonValue.object();
  for (let i = 0; i < caps.length; i++) {
    const name = caps[i].get("name")!;
    if (name.kind != Kind.Null) captured.set(name.str, caps[i].get("string")!);
  }
  const text = input.str;
  const cps = codePoints(text);
  const prefix = JsonValue.string(codePointText(cps, 0, i32(offset)));
  const suffix = JsonValue.string(codePointText(cps, i32(offset + length), cps.length));
  return ev(st, s, captured, null, env, new SubFirstK(prefix, suffix, path, k, at));
}

class SubFirstK extends K {
  prefix: JsonValue;
  suffix: JsonValue;
  path: PathState | null;
  k: K;
  at: i32;

  constructor(prefix: JsonValue, suffix: JsonValue, path: PathState | null, k: K, at: i32) {
    super();
    this.prefix = prefix;
    this.suffix = suffix;
    this.path = path;
    this.k = k;
    this.at = at;
  }

  override emit(st: JqState, v: JsonValue, _p: PathState | null): i32 {
    const head = jqAdd(st, this.prefix, v, this.at);
    if (head == null) return ERR;
    const whole = jqAdd(st, head, this.suffix, this.at);
    if (whole == null) return ERR;
    return this.k.emit(st, whole, this.path);
  }
}
