/// <reference path="../portable.d.ts" />
/**
 * The backtracking matcher for `jq_regex.ts` programs, and jq 1.6's
 * `_match_impl(re; flags; test)` on top of it (what `test`, `match`,
 * `capture`, `scan`, `splits`, `sub` and `gsub` are built on). Positions
 * are code points, as jq reports them. Like Oniguruma, a match gives up
 * after 10,000,000 backtracks ("retry-limit-in-match over").
 */
import { JsonValue, Kind } from "../json_value.ts";
import { typeErrorText } from "./jq_messages.ts";
import {
  A_END,
  A_END_NL,
  A_LINE_END,
  A_LINE_START,
  A_NOT_WORD,
  A_SEARCH_START,
  A_START,
  A_WORD,
  compileRegex,
  foldCase,
  inClass,
  K_WORD,
  L_AHEAD,
  L_AHEAD_NOT,
  L_BEHIND,
  R_ANY,
  R_ANYNL,
  R_ASSERT,
  R_ATOMIC,
  R_BREF,
  R_CHAR,
  R_CHARI,
  R_CHECK,
  R_CINC,
  R_CLOOP,
  R_CSET,
  R_ENDAT,
  R_JMP,
  R_KEEP,
  R_LOOK,
  R_MARK,
  R_MATCH,
  R_SAVE,
  R_SET,
  R_SPLIT,
  RxProgram,
} from "./jq_regex.ts";
// deno-lint-ignore verbatim-module-syntax
import { JqState } from "./jq_state.ts";

const RETRY_LIMIT: i32 = 10000000;
/** Result of a run that hit the retry limit. */
const OVER_LIMIT: i32 = -2;

/** Parsed jq regex flags (`g i x n s p l`). */
export class RegexFlags {
  global: bool = false;
  ignoreCase: bool = false;
  extended: bool = false;
  notEmpty: bool = false;
  dotAll: bool = false;
  longest: bool = false;
}

/** The state of matching one program against one text. */
export class RxMatcher {
  prog: RxProgram;
  cps: Array<i32>;
  /** Where the text starts for anchors and look-behind. */
  base: i32;
  end: i32;
  searchStart: i32 = 0;
  attemptStart: i32 = 0;
  regs: Array<i32>;
  notEmpty: bool = false;
  retries: i32 = 0;
  lookTarget: i32 = -1;
  /** Index of the next required code point at or after the last search start. */
  requiredAt: i32 = -1;

  constructor(prog: RxProgram, cps: Array<i32>, base: i32, end: i32) {
    this.prog = prog;
    this.cps = cps;
    this.base = base;
    this.end = end;
    this.regs = new Array<i32>(prog.registers);
  }

  /**
   * The first match starting at or after `from` (code points): its start,
   * or -1 (none) or -2 (retry limit). Groups are in `regs` (2i, 2i+1).
   */
  search(from: i32, longest: bool): i32 {
    const prog = this.prog;
    if (prog.required >= 0) {
      // Where the next required code point is (searches only move forward).
      if (this.requiredAt < from) {
        this.requiredAt = indexFrom(this.cps, prog.required, from, this.end);
        if (this.requiredAt < 0) this.requiredAt = 0x7fffffff;
      }
      if (this.requiredAt >= this.end) return -1;
    }
    this.searchStart = from;
    let best = -1;
    let bestRegs: Array<i32> | null = null;
    for (let start = from; start <= this.end; start++) {
      if (prog.anchored && start != this.base) break;
      const r = this.attempt(start);
      if (r == OVER_LIMIT) return OVER_LIMIT;
      if (r < 0) continue;
      if (!longest) return start;
      if (best < 0 || this.regs[1] - this.regs[0] > bestRegs![1] - bestRegs![0]) {
        best = start;
        bestRegs = this.regs.slice(0);
      }
    }
    if (bestRegs != null) this.regs = bestRegs;
    return best;
  }

  /** Tries a match starting exactly at `start`: its end, -1, or -2. */
  attempt(start: i32): i32 {
    const regs = this.regs;
    for (let i = 0; i < regs.length; i++) regs[i] = -1;
    this.attemptStart = start;
    // Oniguruma's retry limit counts per match attempt.
    this.retries = 0;
    const r = this.run(this.prog, start);
    if (r < 0) return r;
    regs[0] = start;
    regs[1] = r;
    const keep = this.prog.keepRegister;
    if (keep >= 0 && regs[keep] >= 0) regs[0] = regs[keep];
    return r;
  }

  /** Runs `prog` from `pos`: the end position, -1 (no match) or -2 (retry limit). */
  run(prog: RxProgram, pos0: i32): i32 {
    const code = prog.code;
    const cps = this.cps;
    const regs = this.regs;
    const end = this.end;
    // Backtrack entries of three ints: kind (0 choice, 1 undo), then pc/pos or register/old value.
    const stack = new Array<i32>();
    let pc = 0;
    let pos = pos0;
    while (true) {
      let ok = true;
      const op = code[pc];
      switch (op) {
        case R_CHAR:
          if (pos < end && cps[pos] == code[pc + 1]) {
            pos++;
            pc += 4;
          } else ok = false;
          break;
        case R_CHARI:
          if (pos < end && foldCase(cps[pos]) == code[pc + 1]) {
            pos++;
            pc += 4;
          } else ok = false;
          break;
        case R_ANY:
          if (pos < end && cps[pos] != 10) {
            pos++;
            pc += 4;
          } else ok = false;
          break;
        case R_ANYNL:
          if (pos < end) {
            pos++;
            pc += 4;
          } else ok = false;
          break;
        case R_SET: {
          if (pos < end) {
            const set = prog.sets[code[pc + 1]];
            const c = cps[pos];
            if (set.contains(c) || (code[pc + 2] != 0 && set.contains(foldCase(c)))) {
              pos++;
              pc += 4;
              break;
            }
          }
          ok = false;
          break;
        }
        case R_SPLIT:
          stack.push(0);
          stack.push(code[pc + 2]);
          stack.push(pos);
          pc = code[pc + 1];
          break;
        case R_JMP:
          pc = code[pc + 1];
          break;
        case R_SAVE:
        case R_MARK:
        case R_KEEP:
          setReg(stack, regs, code[pc + 1], pos);
          pc += 4;
          break;
        case R_CSET:
          setReg(stack, regs, code[pc + 1], 0);
          pc += 4;
          break;
        case R_CHECK:
          // An iteration that matched nothing ends the loop.
          pc = pos == regs[code[pc + 1]] ? code[pc + 2] : pc + 4;
          break;
        case R_CLOOP: {
          const info = code[pc + 1];
          const rep = prog.repeats;
          const count = regs[rep[info]];
          const min = rep[info + 1];
          const max = rep[info + 2];
          if (count < min) {
            pc = code[pc + 2];
          } else if (max >= 0 && count >= max) {
            pc = code[pc + 3];
          } else {
            const lazy = rep[info + 3] != 0;
            stack.push(0);
            stack.push(lazy ? code[pc + 2] : code[pc + 3]);
            stack.push(pos);
            pc = lazy ? code[pc + 3] : code[pc + 2];
          }
          break;
        }
        case R_CINC: {
          const info = code[pc + 1];
          const rep = prog.repeats;
          const counter = rep[info];
          const count = regs[counter] + 1;
          setReg(stack, regs, counter, count);
          pc = pos == regs[code[pc + 2]] && count >= rep[info + 1] ? rep[info + 4] : pc + 4;
          break;
        }
        case R_ASSERT:
          if (this.assert(code[pc + 1], pos)) pc += 4;
          else ok = false;
          break;
        case R_BREF: {
          const g = code[pc + 1];
          const s = regs[2 * g];
          const e = regs[2 * g + 1];
          if (s < 0 || e < 0) {
            ok = false;
            break;
          }
          const n = e - s;
          if (pos + n > end) {
            ok = false;
            break;
          }
          const ci = code[pc + 2] != 0;
          for (let i = 0; i < n; i++) {
            const a = cps[s + i];
            const b = cps[pos + i];
            if (a != b && !(ci && foldCase(a) == foldCase(b))) {
              ok = false;
              break;
            }
          }
          if (ok) {
            pos += n;
            pc += 4;
          }
          break;
        }
        case R_ATOMIC: {
          const saved = regs.slice(0);
          const r = this.run(prog.subs[code[pc + 1]], pos);
          if (r == OVER_LIMIT) return OVER_LIMIT;
          if (r < 0) {
            ok = false;
            break;
          }
          keepChanges(stack, regs, saved);
          pos = r;
          pc += 4;
          break;
        }
        case R_LOOK: {
          const r = this.look(prog.subs[code[pc + 1]], code[pc + 2], pos, stack);
          if (r == OVER_LIMIT) return OVER_LIMIT;
          if (r < 0) ok = false;
          else pc += 4;
          break;
        }
        case R_ENDAT:
          if (pos == this.lookTarget) return pos;
          ok = false;
          break;
        case R_MATCH:
          if (this.notEmpty && pos == this.attemptStart) {
            ok = false;
            break;
          }
          return pos;
        default:
          return -1;
      }
      if (ok) continue;
      // Backtrack: undo register writes down to the last choice point.
      while (true) {
        const n = stack.length;
        if (n == 0) return -1;
        const y = stack[n - 1];
        const x = stack[n - 2];
        const kind = stack[n - 3];
        stack.length = n - 3;
        if (kind == 1) {
          regs[x] = y;
          continue;
        }
        if (++this.retries > RETRY_LIMIT) return OVER_LIMIT;
        pc = x;
        pos = y;
        break;
      }
    }
  }

  /** A look-around at `pos`: 0 when it holds, -1 when not, -2 at the retry limit. */
  look(sub: RxProgram, kind: i32, pos: i32, stack: Array<i32>): i32 {
    const regs = this.regs;
    const saved = regs.slice(0);
    let found = false;
    if (kind == L_AHEAD || kind == L_AHEAD_NOT) {
      const r = this.run(sub, pos);
      if (r == OVER_LIMIT) return OVER_LIMIT;
      found = r >= 0;
    } else {
      const outer = this.lookTarget;
      this.lookTarget = pos;
      for (let len = sub.minLength; len <= sub.maxLength && !found; len++) {
        const start = pos - len;
        if (start < this.base) break;
        const r = this.run(sub, start);
        if (r == OVER_LIMIT) {
          this.lookTarget = outer;
          return OVER_LIMIT;
        }
        found = r >= 0;
      }
      this.lookTarget = outer;
    }
    const positive = kind == L_AHEAD || kind == L_BEHIND;
    if (found && positive) {
      keepChanges(stack, regs, saved);
      return 0;
    }
    for (let i = 0; i < regs.length; i++) regs[i] = saved[i];
    return found == positive ? 0 : -1;
  }

  assert(kind: i32, pos: i32): bool {
    const cps = this.cps;
    const base = this.base;
    const end = this.end;
    switch (kind) {
      case A_START:
        return pos == base;
      case A_END:
        return pos == end;
      case A_END_NL:
        return pos == end || (pos == end - 1 && cps[pos] == 10);
      case A_LINE_START:
        return pos == base || cps[pos - 1] == 10;
      case A_LINE_END:
        return pos == end || cps[pos] == 10;
      case A_WORD:
      case A_NOT_WORD: {
        const before = pos > base && inClass(K_WORD, cps[pos - 1]);
        const after = pos < end && inClass(K_WORD, cps[pos]);
        return (before != after) == (kind == A_WORD);
      }
      case A_SEARCH_START:
        return pos == this.searchStart;
      default:
        return false;
    }
  }
}

function setReg(stack: Array<i32>, regs: Array<i32>, r: i32, value: i32): void {
  stack.push(1);
  stack.push(r);
  stack.push(regs[r]);
  regs[r] = value;
}

/** Makes the register changes of a finished sub-match undoable by the outer match. */
function keepChanges(stack: Array<i32>, regs: Array<i32>, saved: Array<i32>): void {
  for (let i = 0; i < regs.length; i++) {
    if (regs[i] != saved[i]) {
      stack.push(1);
      stack.push(i);
      stack.push(saved[i]);
    }
  }
}

function indexFrom(cps: Array<i32>, c: i32, from: i32, end: i32): i32 {
  for (let i = from; i < end; i++) {
    if (cps[i] == c) return i;
  }
  return -1;
}

/** The code points of `s`. */
export function codePoints(s: string): Array<i32> {
  const out = new Array<i32>();
  for (let i = 0, n = s.length; i < n; i++) {
    const c = s.codePointAt(i) as i32;
    out.push(c);
    if (c >= 0x10000) i++;
  }
  return out;
}

/** The text of code points `[start, end)`. */
export function codePointText(cps: Array<i32>, start: i32, end: i32): string {
  const parts = new Array<string>();
  for (let i = start; i < end; i++) parts.push(String.fromCodePoint(cps[i]));
  return parts.join("");
}

let cache: Map<string, RxProgram> = new Map<string, RxProgram>();
const CACHE_SIZE: i32 = 64;

/** A compiled pattern (cached), or null after raising jq's "Regex failure: …". */
export function regexProgram(
  st: JqState,
  pattern: string,
  flags: RegexFlags,
  at: i32,
): RxProgram | null {
  const key = (flags.ignoreCase ? "i" : "") + (flags.extended ? "x" : "") +
    (flags.dotAll ? "p" : "") + "\u0000" + pattern;
  if (cache.has(key)) return cache.get(key) as RxProgram;
  const r = compileRegex(pattern, flags.ignoreCase, flags.extended, flags.dotAll);
  if (r.error != null) {
    st.fail("Regex failure: " + r.error!, at);
    return null;
  }
  if (cache.size >= CACHE_SIZE) cache = new Map<string, RxProgram>();
  cache.set(key, r.program!);
  return r.program;
}

/** Parses jq's modifier string; null after raising jq's error. */
export function regexFlags(st: JqState, modifiers: JsonValue, at: i32): RegexFlags | null {
  const f = new RegexFlags();
  if (modifiers.kind == Kind.Null) return f;
  if (modifiers.kind != Kind.String) {
    st.fail(typeErrorText(modifiers) + " is not a string", at);
    return null;
  }
  const s = modifiers.str;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x67) f.global = true;
    else if (c == 0x69) f.ignoreCase = true;
    else if (c == 0x78) f.extended = true;
    else if (c == 0x6e) f.notEmpty = true;
    else if (c == 0x73) {
      // ONIG_OPTION_SINGLELINE: already how `^` and `$` work in this syntax.
    } else if (c == 0x70) f.dotAll = true;
    else if (c == 0x6c) f.longest = true;
    else {
      st.fail(s + " is not a valid modifier string", at);
      return null;
    }
  }
  return f;
}

/**
 * jq 1.6's `_match_impl(re; modifiers; test)`: with test true a boolean,
 * otherwise an array of match objects (`offset`, `length`, `string`,
 * `captures`); `g` finds every match.
 */
export function matchImpl(
  st: JqState,
  input: JsonValue,
  re: JsonValue,
  modifiers: JsonValue,
  testMode: JsonValue,
  at: i32,
): JsonValue | null {
  if (input.kind != Kind.String) {
    st.fail(typeErrorText(input) + " cannot be matched, as it is not a string", at);
    return null;
  }
  if (re.kind != Kind.String) {
    st.fail(typeErrorText(re) + " is not a string", at);
    return null;
  }
  const flags = regexFlags(st, modifiers, at);
  if (flags == null) return null;
  const prog = regexProgram(st, re.str, flags, at);
  if (prog == null) return null;
  const cps = codePoints(input.str);
  const m = new RxMatcher(prog, cps, 0, cps.length);
  m.notEmpty = flags.notEmpty;
  const test = testMode.kind == Kind.True;
  const results = new Array<JsonValue>();
  let start = 0;
  do {
    const found = m.search(start, flags.longest);
    if (found == OVER_LIMIT) {
      st.fail("Regex failure: retry-limit-in-match over", at);
      return null;
    }
    if (found < 0) break;
    if (test) return JsonValue.bool(true);
    const s = m.regs[0];
    const e = m.regs[1];
    results.push(matchObject(prog, cps, m.regs, s, e));
    // jq 1.6 resumes after a non-empty match, but one past the previous
    // search start after an empty one (so it can find the same empty match again).
    start = e == s ? start + 1 : e;
  } while (flags.global && start < cps.length);
  if (test) return JsonValue.bool(false);
  return JsonValue.array(results);
}

/** One match object as jq 1.6 builds it (a zero-length match has no captures). */
export function matchObject(
  prog: RxProgram,
  cps: Array<i32>,
  regs: Array<i32>,
  s: i32,
  e: i32,
): JsonValue {
  const m = JsonValue.object();
  m.set("offset", JsonValue.number(f64(s)));
  m.set("length", JsonValue.number(f64(e - s)));
  m.set("string", JsonValue.string(codePointText(cps, s, e)));
  const caps = new Array<JsonValue>();
  if (e > s) {
    for (let g = 1; g <= prog.groups; g++) {
      const cs = regs[2 * g];
      const ce = regs[2 * g + 1];
      const cap = JsonValue.object();
      if (cs < 0 || ce < 0 || cs == ce) {
        cap.set("offset", JsonValue.number(cs < 0 || ce < 0 ? -1 : f64(cs)));
        cap.set("string", cs < 0 || ce < 0 ? JsonValue.null() : JsonValue.string(""));
        cap.set("length", JsonValue.number(0));
      } else {
        cap.set("offset", JsonValue.number(f64(cs)));
        cap.set("length", JsonValue.number(f64(ce - cs)));
        cap.set("string", JsonValue.string(codePointText(cps, cs, ce)));
      }
      cap.set("name", JsonValue.null());
      caps.push(cap);
    }
    for (let i = 0; i < prog.names.length; i++) {
      caps[prog.nameGroups[i] - 1].set("name", JsonValue.string(prog.names[i]));
    }
  }
  m.set("captures", JsonValue.array(caps));
  return m;
}
