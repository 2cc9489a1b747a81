/// <reference path="../portable.d.ts" />
/**
 * ECMAScript regular expressions for `pattern` and `patternProperties`, with
 * the semantics ajv uses (`new RegExp(source, "u")`, then `test`: a match
 * anywhere in the string). Portable AssemblyScript.
 *
 * Linear time: the pattern compiles to a small NFA program run as a Pike VM
 * (all threads in lockstep, one pass over the input), so no pattern can
 * backtrack catastrophically. That rules out backreferences (`\1`, `\k<n>`)
 * and lookaround (`(?=`, `(?!`, `(?<=`, `(?<!`), which report `unsupported`,
 * as do Unicode property escapes (`\p{...}`, they need Unicode tables).
 * Everything else of the `u`-flag syntax is supported: alternation, groups
 * (capturing, non-capturing and named, matched without capture), `* + ? {n}
 * {n,} {n,m}` greedy or lazy, `. ^ $ \b \B`, classes with ranges, negation
 * and `\d \D \w \W \s \S`, and the escapes `\f \n \r \t \v \0 \cX \xHH
 * \uHHHH \u{H...}`, surrogate pairs as one code point. Syntax errors (what
 * `new RegExp(source, "u")` rejects) are reported as such.
 */

const OP_CHAR = 0;
const OP_ANY = 1;
const OP_CLASS = 2;
const OP_SPLIT = 3;
const OP_JMP = 4;
const OP_MATCH = 5;
const OP_BOL = 6;
const OP_EOL = 7;
const OP_WORDB = 8;
const OP_NWORDB = 9;

/** Largest program (instructions) a pattern may compile to; counted repetition multiplies. */
const MAX_PROGRAM: i32 = 20000;
const MAX_CODE_POINT: i32 = 0x10ffff;

const N_EMPTY = 0;
const N_CHAR = 1;
const N_ANY = 2;
const N_CLASS = 3;
const N_CONCAT = 4;
const N_ALT = 5;
const N_REPEAT = 6;
const N_BOL = 7;
const N_EOL = 8;
const N_WORDB = 9;
const N_NWORDB = 10;

class RegexNode {
  kind: i32;
  cp: i32 = 0;
  cls: CharClass | null = null;
  children: Array<RegexNode> = new Array<RegexNode>();
  min: i32 = 0;
  /** -1: unbounded. */
  max: i32 = 0;

  constructor(kind: i32) {
    this.kind = kind;
  }
}

/** A set of code points: sorted, merged [lo, hi] ranges, possibly negated. */
class CharClass {
  ranges: Array<i32> = new Array<i32>();
  negated: bool = false;
  /** Membership of U+0000..U+007F as four 32-bit words (the common case, no search). */
  ascii: Array<i32> = [0, 0, 0, 0];

  add(lo: i32, hi: i32): void {
    this.ranges.push(lo);
    this.ranges.push(hi);
  }

  /** Adds the complement of `ranges` (sorted, merged pairs) within [0, MAX_CODE_POINT]. */
  addComplement(ranges: Array<i32>): void {
    let next = 0;
    for (let i = 0; i < ranges.length; i += 2) {
      if (ranges[i] > next) this.add(next, ranges[i] - 1);
      next = ranges[i + 1] + 1;
    }
    if (next <= MAX_CODE_POINT) this.add(next, MAX_CODE_POINT);
  }

  /** Sorts and merges the ranges (insertion sort: classes are small). */
  normalize(): void {
    const r = this.ranges;
    const n = i32(r.length / 2);
    for (let i = 1; i < n; i++) {
      const lo = r[2 * i];
      const hi = r[2 * i + 1];
      let j = i - 1;
      while (j >= 0 && r[2 * j] > lo) {
        r[2 * j + 2] = r[2 * j];
        r[2 * j + 3] = r[2 * j + 1];
        j--;
      }
      r[2 * j + 2] = lo;
      r[2 * j + 3] = hi;
    }
    const out = new Array<i32>();
    for (let i = 0; i < n; i++) {
      const lo = r[2 * i];
      const hi = r[2 * i + 1];
      const m = out.length;
      if (m > 0 && lo <= out[m - 1] + 1) {
        if (hi > out[m - 1]) out[m - 1] = hi;
      } else {
        out.push(lo);
        out.push(hi);
      }
    }
    this.ranges = out;
    this.fillAscii();
  }

  fillAscii(): void {
    const r = this.ranges;
    for (let w = 0; w < 4; w++) this.ascii[w] = 0;
    for (let i = 0; i < r.length; i += 2) {
      const lo = r[i];
      const hi = r[i + 1] < 127 ? r[i + 1] : 127;
      for (let c = lo; c <= hi; c++) this.ascii[c >> 5] |= 1 << (c & 31);
    }
  }

  matches(cp: i32): bool {
    if (cp < 128) return ((this.ascii[cp >> 5] >>> (cp & 31)) & 1) != (this.negated ? 1 : 0);
    const r = this.ranges;
    let lo = 0;
    let hi = i32(r.length / 2) - 1;
    let found = false;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (cp < r[2 * mid]) hi = mid - 1;
      else if (cp > r[2 * mid + 1]) lo = mid + 1;
      else {
        found = true;
        break;
      }
    }
    return found != this.negated;
  }
}

const DIGIT_RANGES: Array<i32> = [0x30, 0x39];
const WORD_RANGES: Array<i32> = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
const SPACE_RANGES: Array<i32> = [
  0x09,
  0x0d,
  0x20,
  0x20,
  0xa0,
  0xa0,
  0x1680,
  0x1680,
  0x2000,
  0x200a,
  0x2028,
  0x2029,
  0x202f,
  0x202f,
  0x205f,
  0x205f,
  0x3000,
  0x3000,
  0xfeff,
  0xfeff,
];

function isWordChar(cp: i32): bool {
  return (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || cp == 0x5f ||
    (cp >= 0x61 && cp <= 0x7a);
}

function isLineTerminator(cp: i32): bool {
  return cp == 0x0a || cp == 0x0d || cp == 0x2028 || cp == 0x2029;
}

function hexDigit(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/** A compiled regular expression: `test(s)` tells whether it matches anywhere in `s`. */
export class SchemaRegex {
  source: string;
  ops: Array<i32>;
  args: Array<i32>;
  args2: Array<i32>;
  classes: Array<CharClass>;
  /** Every match starts at offset 0 (the pattern begins with ^). */
  anchored: bool;
  vm: PikeVm | null = null;

  constructor(
    source: string,
    ops: Array<i32>,
    args: Array<i32>,
    args2: Array<i32>,
    classes: Array<CharClass>,
    anchored: bool,
  ) {
    this.source = source;
    this.ops = ops;
    this.args = args;
    this.args2 = args2;
    this.classes = classes;
    this.anchored = anchored;
  }

  /**
   * Whether the pattern matches somewhere in `text` (RegExp.prototype.test).
   *
   * @example
   * ```ts
   * import "../../native/portable_runtime.ts";
   * import { compileRegex } from "./schema_regex.ts";
   * const re = compileRegex("^[a-z]+\\d{2,}$").regex!;
   * console.assert(re.test("abc123") && !re.test("abc1"));
   * ```
   */
  test(text: string): bool {
    // One VM per regex, reused: the wasm build never frees memory within a step.
    let vm = this.vm;
    if (vm == null) {
      vm = new PikeVm(this);
      this.vm = vm;
    }
    vm.reset(text);
    return vm.run();
  }
}

/**
 * One run of a program over a string. Like V8, a search may start at every
 * UTF-16 offset, also between the halves of a surrogate pair (where only
 * assertions can match), so threads advance by one or two units; three
 * rotating thread lists cover offsets pos, pos + 1 and pos + 2.
 */
class PikeVm {
  re: SchemaRegex;
  text: string = "";
  n: i32 = 0;
  lists: Array<Array<i32>> = new Array<Array<i32>>();
  /**
   * Per instruction: `base + offset` when it was last added (no duplicates
   * per offset); `base` moves past every run so marks never need clearing.
   */
  seen: Array<i32>;
  base: i32 = 0;
  stack: Array<i32> = new Array<i32>();
  matched: bool = false;

  constructor(re: SchemaRegex) {
    this.re = re;
    const size = re.ops.length;
    this.seen = new Array<i32>(size);
    for (let i = 0; i < size; i++) this.seen[i] = -1;
    for (let i = 0; i < 3; i++) this.lists.push(new Array<i32>());
  }

  reset(text: string): void {
    this.base += this.n + 2;
    if (this.base > 1000000000 - text.length) {
      for (let i = 0; i < this.seen.length; i++) this.seen[i] = -1;
      this.base = 0;
    }
    this.text = text;
    this.n = text.length;
    for (let i = 0; i < 3; i++) this.lists[i].length = 0;
    this.stack.length = 0;
    this.matched = false;
  }

  /**
   * The code point at UTF-16 offset `i`: -1 at the end, -2 between the halves
   * of a surrogate pair (V8 lets assertions match there but no character);
   * a lone surrogate is itself.
   */
  codePointAt(i: i32): i32 {
    if (i >= this.n) return -1;
    const c = this.text.charCodeAt(i);
    if (c >= 0xdc00 && c <= 0xdfff && i > 0) {
      const b = this.text.charCodeAt(i - 1);
      if (b >= 0xd800 && b <= 0xdbff) return -2;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < this.n) {
      const d = this.text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) return 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
    }
    return c;
  }

  /** The code point ending just before offset `i` (-1 at the start). */
  codePointBefore(i: i32): i32 {
    if (i <= 0) return -1;
    const d = this.text.charCodeAt(i - 1);
    if (d >= 0xdc00 && d <= 0xdfff && i >= 2) {
      const c = this.text.charCodeAt(i - 2);
      if (c >= 0xd800 && c <= 0xdbff) return 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
    }
    return d;
  }

  /** Adds `start` and everything reachable from it without input at offset `pos` to `list`. */
  addThread(list: Array<i32>, start: i32, pos: i32): void {
    const ops = this.re.ops;
    const args = this.re.args;
    const args2 = this.re.args2;
    const stack = this.stack;
    stack.push(start);
    while (stack.length > 0) {
      const pc = stack.pop() as i32;
      const mark = this.base + pos;
      if (this.seen[pc] == mark) continue;
      this.seen[pc] = mark;
      const op = ops[pc];
      if (op == OP_JMP) {
        stack.push(args[pc]);
      } else if (op == OP_SPLIT) {
        stack.push(args2[pc]);
        stack.push(args[pc]);
      } else if (op == OP_BOL) {
        if (pos == 0) stack.push(pc + 1);
      } else if (op == OP_EOL) {
        if (pos == this.n) stack.push(pc + 1);
      } else if (op == OP_WORDB || op == OP_NWORDB) {
        const before = this.codePointBefore(pos);
        const after = this.codePointAt(pos);
        const boundary = (before >= 0 && isWordChar(before)) != (after >= 0 && isWordChar(after));
        if (boundary == (op == OP_WORDB)) stack.push(pc + 1);
      } else if (op == OP_MATCH) {
        this.matched = true;
      } else {
        list.push(pc);
      }
    }
  }

  run(): bool {
    const ops = this.re.ops;
    const args = this.re.args;
    const classes = this.re.classes;
    const anchored = this.re.anchored;
    const lists = this.lists;
    for (let pos = 0; pos <= this.n; pos++) {
      const current = lists[pos % 3];
      if (!anchored || pos == 0) this.addThread(current, 0, pos);
      if (this.matched) return true;
      if (pos == this.n) return false;
      if (current.length == 0) {
        // Nothing alive here; an anchored search ends once nothing is alive ahead either.
        if (anchored && lists[(pos + 1) % 3].length == 0 && lists[(pos + 2) % 3].length == 0) {
          return false;
        }
        continue;
      }
      const cp = this.codePointAt(pos);
      if (cp == -2) {
        // Inside a surrogate pair: threads here cannot consume anything.
        current.length = 0;
        continue;
      }
      const width = cp >= 0x10000 ? 2 : 1;
      const target = lists[(pos + width) % 3];
      for (let k = 0; k < current.length; k++) {
        const pc = current[k];
        const op = ops[pc];
        let ok = false;
        if (op == OP_CHAR) ok = cp == args[pc];
        else if (op == OP_ANY) ok = !isLineTerminator(cp);
        else if (op == OP_CLASS) ok = classes[args[pc]].matches(cp);
        if (ok) this.addThread(target, pc + 1, pos + width);
        if (this.matched) return true;
      }
      current.length = 0;
    }
    return false;
  }
}

/** The outcome of {@link compileRegex}. */
export class RegexCompileResult {
  regex: SchemaRegex | null;
  /** Why the source was refused, e.g. `nothing to repeat at offset 0`. */
  error: string | null;
  /** True when the source is valid ECMAScript but uses something this engine lacks. */
  unsupported: bool;

  constructor(regex: SchemaRegex | null, error: string | null, unsupported: bool) {
    this.regex = regex;
    this.error = error;
    this.unsupported = unsupported;
  }
}

/**
 * Compiles `source` as `new RegExp(source, "u")` would read it. Never throws.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { compileRegex } from "./schema_regex.ts";
 * console.assert(compileRegex("a(").error !== null);
 * console.assert(compileRegex("(a)\\1").unsupported);
 * console.assert(compileRegex("é|\\u{1F600}").regex!.test("x\u{1F600}"));
 * ```
 */
export function compileRegex(source: string): RegexCompileResult {
  const parser = new RegexParser(source);
  const ast = parser.parse();
  if (ast == null) return new RegexCompileResult(null, parser.error, parser.unsupported);
  const compiler = new RegexCompiler();
  compiler.emit(ast);
  compiler.op(OP_MATCH, 0, 0);
  if (compiler.ops.length > MAX_PROGRAM) {
    return new RegexCompileResult(
      null,
      "the pattern compiles to more than " + MAX_PROGRAM.toString() +
        " instructions (large counted repetitions)",
      true,
    );
  }
  const regex = new SchemaRegex(
    source,
    compiler.ops,
    compiler.args,
    compiler.args2,
    compiler.classes,
    startsWithBol(ast),
  );
  return new RegexCompileResult(regex, null, false);
}

function startsWithBol(node: RegexNode): bool {
  if (node.kind == N_BOL) return true;
  if (node.kind == N_CONCAT && node.children.length > 0) return startsWithBol(node.children[0]);
  if (node.kind == N_ALT) {
    for (let i = 0; i < node.children.length; i++) {
      if (!startsWithBol(node.children[i])) return false;
    }
    return node.children.length > 0;
  }
  return false;
}

class RegexCompiler {
  ops: Array<i32> = new Array<i32>();
  args: Array<i32> = new Array<i32>();
  args2: Array<i32> = new Array<i32>();
  classes: Array<CharClass> = new Array<CharClass>();

  op(op: i32, a: i32, b: i32): i32 {
    this.ops.push(op);
    this.args.push(a);
    this.args2.push(b);
    return this.ops.length - 1;
  }

  emit(node: RegexNode): void {
    // Stop growing once over the limit; compileRegex reports it.
    if (this.ops.length > MAX_PROGRAM) return;
    switch (node.kind) {
      case N_EMPTY:
        return;
      case N_CHAR:
        this.op(OP_CHAR, node.cp, 0);
        return;
      case N_ANY:
        this.op(OP_ANY, 0, 0);
        return;
      case N_CLASS:
        this.classes.push(node.cls!);
        this.op(OP_CLASS, this.classes.length - 1, 0);
        return;
      case N_BOL:
        this.op(OP_BOL, 0, 0);
        return;
      case N_EOL:
        this.op(OP_EOL, 0, 0);
        return;
      case N_WORDB:
        this.op(OP_WORDB, 0, 0);
        return;
      case N_NWORDB:
        this.op(OP_NWORDB, 0, 0);
        return;
      case N_CONCAT:
        for (let i = 0; i < node.children.length; i++) this.emit(node.children[i]);
        return;
      case N_ALT: {
        const jumps = new Array<i32>();
        const n = node.children.length;
        for (let i = 0; i < n; i++) {
          if (i < n - 1) {
            const split = this.op(OP_SPLIT, 0, 0);
            this.args[split] = split + 1;
            this.emit(node.children[i]);
            jumps.push(this.op(OP_JMP, 0, 0));
            this.args2[split] = this.ops.length;
          } else {
            this.emit(node.children[i]);
          }
        }
        for (let i = 0; i < jumps.length; i++) this.args[jumps[i]] = this.ops.length;
        return;
      }
      default:
        this.emitRepeat(node);
    }
  }

  emitRepeat(node: RegexNode): void {
    const child = node.children[0];
    for (let i = 0; i < node.min; i++) this.emit(child);
    if (node.max < 0) {
      // L: split body, end; body; jmp L
      const split = this.op(OP_SPLIT, 0, 0);
      this.args[split] = split + 1;
      this.emit(child);
      this.op(OP_JMP, split, 0);
      this.args2[split] = this.ops.length;
      return;
    }
    // Optional copies, each skipping straight to the end.
    const splits = new Array<i32>();
    for (let i = node.min; i < node.max; i++) {
      if (this.ops.length > MAX_PROGRAM) return;
      const split = this.op(OP_SPLIT, 0, 0);
      this.args[split] = split + 1;
      splits.push(split);
      this.emit(child);
    }
    for (let i = 0; i < splits.length; i++) this.args2[splits[i]] = this.ops.length;
  }
}

class RegexParser {
  src: string;
  pos: i32 = 0;
  groupNames: Map<string, bool> = new Map<string, bool>();
  /** The first unsupported construct, reported when the pattern is otherwise valid. */
  missing: string | null = null;
  error: string | null = null;
  unsupported: bool = false;

  /** Capturing groups and group names in the whole pattern (backreferences may point forward). */
  groupCount: i32 = 0;
  allNames: Map<string, bool> = new Map<string, bool>();

  constructor(src: string) {
    this.src = src;
    this.scanGroups();
  }

  scanGroups(): void {
    const s = this.src;
    const n = s.length;
    let inClass = false;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c == 0x5c) {
        i++;
      } else if (inClass) {
        if (c == 0x5d) inClass = false;
      } else if (c == 0x5b) {
        inClass = true;
      } else if (c == 0x28) {
        if (i + 1 < n && s.charCodeAt(i + 1) == 0x3f) {
          const k = i + 2 < n ? s.charCodeAt(i + 2) : -1;
          const l = i + 3 < n ? s.charCodeAt(i + 3) : -1;
          if (k == 0x3c && l != 0x3d && l != 0x21) {
            this.groupCount++;
            const close = s.indexOf(">", i + 3);
            if (close > 0) this.allNames.set(s.substring(i + 3, close), true);
          }
        } else {
          this.groupCount++;
        }
      }
    }
  }

  fail(reason: string): RegexNode | null {
    if (this.error == null) this.error = reason + " at offset " + this.pos.toString();
    return null;
  }

  /**
   * Notes the first valid-but-unsupported construct; parsing goes on, so a
   * syntax error later in the pattern is still reported as one.
   */
  lacks(feature: string): void {
    if (this.missing == null) {
      this.missing = feature + " (at offset " + this.pos.toString() +
        ") is not supported by this validator's linear-time regular expression engine";
    }
  }

  peek(): i32 {
    return this.pos < this.src.length ? this.src.charCodeAt(this.pos) : -1;
  }

  peekAt(k: i32): i32 {
    return this.pos + k < this.src.length ? this.src.charCodeAt(this.pos + k) : -1;
  }

  /** Reads one code point of the pattern (a surrogate pair is one). */
  readCodePoint(): i32 {
    const c = this.src.charCodeAt(this.pos);
    this.pos++;
    if (c >= 0xd800 && c <= 0xdbff && this.pos < this.src.length) {
      const d = this.src.charCodeAt(this.pos);
      if (d >= 0xdc00 && d <= 0xdfff) {
        this.pos++;
        return 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
      }
    }
    return c;
  }

  parse(): RegexNode | null {
    const node = this.parseDisjunction(0);
    if (node == null) return null;
    if (this.pos < this.src.length) {
      // Only a stray ")" can stop the top level early.
      return this.fail("unmatched ')'");
    }
    if (this.missing != null) {
      this.unsupported = true;
      this.error = this.missing;
      return null;
    }
    return node;
  }

  parseDisjunction(depth: i32): RegexNode | null {
    if (depth > 200) return this.fail("groups nested too deeply");
    const alts = new Array<RegexNode>();
    const first = this.parseAlternative(depth);
    if (first == null) return null;
    alts.push(first);
    while (this.peek() == 0x7c) {
      this.pos++;
      const alt = this.parseAlternative(depth);
      if (alt == null) return null;
      alts.push(alt);
    }
    if (alts.length == 1) return alts[0];
    const node = new RegexNode(N_ALT);
    node.children = alts;
    return node;
  }

  parseAlternative(depth: i32): RegexNode | null {
    const node = new RegexNode(N_CONCAT);
    while (this.pos < this.src.length) {
      const c = this.peek();
      if (c == 0x7c || c == 0x29) break;
      const term = this.parseTerm(depth);
      if (term == null) return null;
      node.children.push(term);
    }
    return node;
  }

  parseTerm(depth: i32): RegexNode | null {
    const c = this.peek();
    // Assertions (never quantifiable with the u flag).
    if (c == 0x5e || c == 0x24) {
      this.pos++;
      return this.noQuantifier(new RegexNode(c == 0x5e ? N_BOL : N_EOL));
    }
    if (c == 0x5c && (this.peekAt(1) == 0x62 || this.peekAt(1) == 0x42)) {
      const kind = this.peekAt(1) == 0x62 ? N_WORDB : N_NWORDB;
      this.pos += 2;
      return this.noQuantifier(new RegexNode(kind));
    }
    const atom = this.parseAtom(depth);
    if (atom == null) return null;
    return this.parseQuantifier(atom);
  }

  noQuantifier(node: RegexNode): RegexNode | null {
    const c = this.peek();
    if (c == 0x2a || c == 0x2b || c == 0x3f || c == 0x7b) return this.fail("nothing to repeat");
    return node;
  }

  parseAtom(depth: i32): RegexNode | null {
    const c = this.peek();
    if (c == 0x2a || c == 0x2b || c == 0x3f) return this.fail("nothing to repeat");
    if (c == 0x7b || c == 0x7d || c == 0x5d) return this.fail("lone quantifier bracket");
    if (c == 0x2e) {
      this.pos++;
      return new RegexNode(N_ANY);
    }
    if (c == 0x28) return this.parseGroup(depth);
    if (c == 0x5b) return this.parseClass();
    if (c == 0x5c) return this.parseAtomEscape();
    const node = new RegexNode(N_CHAR);
    node.cp = this.readCodePoint();
    return node;
  }

  parseGroup(depth: i32): RegexNode | null {
    this.pos++; // (
    if (this.peek() == 0x3f) {
      const k = this.peekAt(1);
      if (k == 0x3a) {
        this.pos += 2;
      } else if (k == 0x3d || k == 0x21) {
        this.lacks("lookahead");
        this.pos += 2;
        return this.parseLookaround(depth);
      } else if (k == 0x3c && (this.peekAt(2) == 0x3d || this.peekAt(2) == 0x21)) {
        this.lacks("lookbehind");
        this.pos += 3;
        return this.parseLookaround(depth);
      } else if (k == 0x3c) {
        this.pos += 2;
        if (!this.parseGroupName()) return null;
      } else {
        return this.fail("invalid group");
      }
    }
    const inner = this.parseDisjunction(depth + 1);
    if (inner == null) return null;
    if (this.peek() != 0x29) return this.fail("unterminated group");
    this.pos++;
    return inner;
  }

  /** The rest of a lookaround: checked for syntax, matched as nothing (reported unsupported). */
  parseLookaround(depth: i32): RegexNode | null {
    const inner = this.parseDisjunction(depth + 1);
    if (inner == null) return null;
    if (this.peek() != 0x29) return this.fail("unterminated group");
    this.pos++;
    // Lookarounds cannot be quantified with the u flag.
    return this.noQuantifier(new RegexNode(N_EMPTY));
  }

  /** `name>` of a named group: an identifier (ASCII letters, digits, $, _; not starting with a digit). */
  parseGroupName(): bool {
    const start = this.pos;
    while (this.pos < this.src.length) {
      const c = this.peek();
      if (c == 0x3e) break;
      const letter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x24 ||
        c == 0x5f;
      const digit = c >= 0x30 && c <= 0x39;
      if (c >= 0x80) {
        this.lacks("a non-ASCII group name");
        this.pos++;
        continue;
      }
      if (!letter && !(digit && this.pos > start)) {
        this.fail("invalid capture group name");
        return false;
      }
      this.pos++;
    }
    if (this.peek() != 0x3e || this.pos == start) {
      this.fail("invalid capture group name");
      return false;
    }
    const name = this.src.substring(start, this.pos);
    if (this.groupNames.has(name)) {
      this.fail("duplicate capture group name");
      return false;
    }
    this.groupNames.set(name, true);
    this.pos++;
    return true;
  }

  parseQuantifier(atom: RegexNode): RegexNode | null {
    const c = this.peek();
    let min = 0;
    let max = -1;
    if (c == 0x2a) {
      this.pos++;
    } else if (c == 0x2b) {
      this.pos++;
      min = 1;
    } else if (c == 0x3f) {
      this.pos++;
      max = 1;
    } else if (c == 0x7b) {
      const save = this.pos;
      this.pos++;
      let lo = this.readDecimal();
      if (lo == -2) {
        this.lacks("a repetition count above 100000");
        lo = 100000;
      }
      if (lo < 0) {
        this.pos = save;
        return this.fail("incomplete quantifier");
      }
      min = lo;
      max = lo;
      if (this.peek() == 0x2c) {
        this.pos++;
        if (this.peek() == 0x7d) {
          max = -1;
        } else {
          let hi = this.readDecimal();
          if (hi == -2) {
            this.lacks("a repetition count above 100000");
            hi = 100000;
          }
          if (hi < 0) return this.fail("incomplete quantifier");
          max = hi;
        }
      }
      if (this.peek() != 0x7d) return this.fail("incomplete quantifier");
      this.pos++;
      if (max >= 0 && min > max) return this.fail("numbers out of order in {} quantifier");
    } else {
      return atom;
    }
    if (this.peek() == 0x3f) this.pos++; // lazy: the same for test()
    const c2 = this.peek();
    if (c2 == 0x2a || c2 == 0x2b || c2 == 0x3f || c2 == 0x7b) return this.fail("nothing to repeat");
    const node = new RegexNode(N_REPEAT);
    node.children.push(atom);
    node.min = min;
    node.max = max;
    return node;
  }

  /** Decimal digits: their value, -1 when there are none, -2 above 100000 (the program limit). */
  readDecimal(): i32 {
    const start = this.pos;
    let v = 0;
    let big = false;
    while (this.pos < this.src.length) {
      const c = this.peek();
      if (c < 0x30 || c > 0x39) break;
      if (v > 100000) big = true;
      else v = v * 10 + (c - 0x30);
      this.pos++;
    }
    if (this.pos == start) return -1;
    return big || v > 100000 ? -2 : v;
  }

  parseAtomEscape(): RegexNode | null {
    this.pos++; // backslash
    const c = this.peek();
    if (c < 0) return this.fail("\\ at end of pattern");
    if (c >= 0x31 && c <= 0x39) {
      const save = this.pos;
      const n = this.readDecimal();
      // With the u flag a reference past the last group is a syntax error.
      if (n < 0 || n > this.groupCount) {
        this.pos = save;
        return this.fail("invalid escape");
      }
      this.pos = save;
      this.lacks("a backreference");
      this.readDecimal();
      return new RegexNode(N_EMPTY);
    }
    if (c == 0x6b) {
      const close = this.src.indexOf(">", this.pos);
      const named = this.peekAt(1) == 0x3c && close > this.pos + 2 &&
        this.allNames.has(this.src.substring(this.pos + 2, close));
      if (!named) return this.fail("invalid named reference");
      this.lacks("a named backreference");
      this.pos = close + 1;
      return new RegexNode(N_EMPTY);
    }
    if (c == 0x70 || c == 0x50) {
      if (!this.skipProperty()) return null;
      return new RegexNode(N_EMPTY);
    }
    const set = this.classEscape(c);
    if (set != null) {
      this.pos++;
      const node = new RegexNode(N_CLASS);
      node.cls = set;
      return node;
    }
    const cp = this.characterEscape(false);
    if (cp < 0) return null;
    const node = new RegexNode(N_CHAR);
    node.cp = cp;
    return node;
  }

  /** `p{Name}` or `p{Name=Value}` after the backslash: checked for shape, noted as unsupported. */
  skipProperty(): bool {
    this.lacks("a Unicode property escape");
    if (this.peekAt(1) != 0x7b) {
      this.fail("invalid property name");
      return false;
    }
    let i = 2;
    while (true) {
      const c = this.peekAt(i);
      if (c == 0x7d) break;
      const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
        (c >= 0x30 && c <= 0x39) || c == 0x5f || c == 0x3d;
      if (!ok) {
        this.fail("invalid property name");
        return false;
      }
      i++;
    }
    if (i == 2) {
      this.fail("invalid property name");
      return false;
    }
    this.pos += i + 1;
    return true;
  }

  /** \d \D \s \S \w \W as a class, or null for other letters. */
  classEscape(c: i32): CharClass | null {
    const cls = new CharClass();
    let base: Array<i32> | null = null;
    let negate = false;
    if (c == 0x64 || c == 0x44) base = DIGIT_RANGES;
    else if (c == 0x73 || c == 0x53) base = SPACE_RANGES;
    else if (c == 0x77 || c == 0x57) base = WORD_RANGES;
    else return null;
    negate = c == 0x44 || c == 0x53 || c == 0x57;
    const ranges = base!;
    if (negate) {
      cls.addComplement(ranges);
    } else {
      for (let i = 0; i < ranges.length; i += 2) cls.add(ranges[i], ranges[i + 1]);
    }
    cls.normalize();
    return cls;
  }

  /**
   * A CharacterEscape after the backslash (the u-flag grammar); -1 with the
   * error set. `inClass` also allows `\b` (backspace) and `\-`.
   */
  characterEscape(inClass: bool): i32 {
    const c = this.peek();
    if (inClass && c == 0x62) {
      this.pos++;
      return 0x08;
    }
    if (inClass && c == 0x2d) {
      this.pos++;
      return 0x2d;
    }
    if (c == 0x66 || c == 0x6e || c == 0x72 || c == 0x74 || c == 0x76) {
      this.pos++;
      if (c == 0x66) return 0x0c;
      if (c == 0x6e) return 0x0a;
      if (c == 0x72) return 0x0d;
      if (c == 0x74) return 0x09;
      return 0x0b;
    }
    if (c == 0x63) {
      const l = this.peekAt(1);
      if ((l >= 0x41 && l <= 0x5a) || (l >= 0x61 && l <= 0x7a)) {
        this.pos += 2;
        return l % 32;
      }
      this.fail("invalid unicode escape");
      return -1;
    }
    if (c == 0x30) {
      const d = this.peekAt(1);
      if (d >= 0x30 && d <= 0x39) {
        this.fail("invalid decimal escape");
        return -1;
      }
      this.pos++;
      return 0;
    }
    if (c == 0x78) {
      const h1 = hexDigit(this.peekAt(1));
      const h2 = hexDigit(this.peekAt(2));
      if (h1 < 0 || h2 < 0) {
        this.fail("invalid escape");
        return -1;
      }
      this.pos += 3;
      return h1 * 16 + h2;
    }
    if (c == 0x75) return this.unicodeEscape();
    // Identity escapes: only syntax characters and "/" with the u flag.
    if (
      c == 0x5e || c == 0x24 || c == 0x5c || c == 0x2e || c == 0x2a || c == 0x2b || c == 0x3f ||
      c == 0x28 || c == 0x29 || c == 0x5b || c == 0x5d || c == 0x7b || c == 0x7d || c == 0x7c ||
      c == 0x2f
    ) {
      this.pos++;
      return c;
    }
    if (inClass && c >= 0x31 && c <= 0x39) {
      this.fail("invalid class escape");
      return -1;
    }
    this.fail("invalid escape");
    return -1;
  }

  /** After "\": `uHHHH` (joining an escaped surrogate pair) or `u{H...}`. */
  unicodeEscape(): i32 {
    if (this.peekAt(1) == 0x7b) {
      let i = 2;
      let v = 0;
      let digits = 0;
      while (true) {
        const c = this.peekAt(i);
        if (c == 0x7d) break;
        const h = hexDigit(c);
        if (h < 0 || v > MAX_CODE_POINT) {
          this.fail("invalid unicode escape");
          return -1;
        }
        v = v * 16 + h;
        digits++;
        i++;
      }
      if (digits == 0 || v > MAX_CODE_POINT) {
        this.fail("invalid unicode escape");
        return -1;
      }
      this.pos += i + 1;
      return v;
    }
    const v = this.hex4(1);
    if (v < 0) {
      this.fail("invalid unicode escape");
      return -1;
    }
    this.pos += 5;
    if (v >= 0xd800 && v <= 0xdbff && this.peek() == 0x5c && this.peekAt(1) == 0x75) {
      const low = this.hex4(2);
      if (low >= 0xdc00 && low <= 0xdfff) {
        this.pos += 6;
        return 0x10000 + ((v - 0xd800) << 10) + (low - 0xdc00);
      }
    }
    return v;
  }

  hex4(offset: i32): i32 {
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const h = hexDigit(this.peekAt(offset + i));
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    return v;
  }

  parseClass(): RegexNode | null {
    this.pos++; // [
    const cls = new CharClass();
    if (this.peek() == 0x5e) {
      cls.negated = true;
      this.pos++;
    }
    while (true) {
      const c = this.peek();
      if (c < 0) return this.fail("unterminated character class");
      if (c == 0x5d) {
        this.pos++;
        break;
      }
      const lo = this.classAtom(cls);
      if (lo == -2) return null;
      if (this.peek() == 0x2d && this.peekAt(1) != 0x5d && this.peekAt(1) >= 0) {
        this.pos++;
        const hi = this.classAtom(cls);
        if (hi == -2) return null;
        if (lo < 0 || hi < 0) return this.fail("invalid character class");
        if (lo > hi) return this.fail("range out of order in character class");
        cls.add(lo, hi);
      } else if (lo >= 0) {
        cls.add(lo, lo);
      }
    }
    cls.normalize();
    const node = new RegexNode(N_CLASS);
    node.cls = cls;
    return node;
  }

  /** One class atom: its code point, -1 when it was a set escape (added to `cls`), -2 on error. */
  classAtom(cls: CharClass): i32 {
    const c = this.peek();
    if (c != 0x5c) return this.readCodePoint();
    this.pos++;
    const e = this.peek();
    if (e < 0) {
      this.fail("\\ at end of pattern");
      return -2;
    }
    if (e == 0x70 || e == 0x50) return this.skipProperty() ? -1 : -2;
    const set = this.classEscape(e);
    if (set != null) {
      this.pos++;
      const r = set.ranges;
      for (let i = 0; i < r.length; i += 2) cls.add(r[i], r[i + 1]);
      return -1;
    }
    const cp = this.characterEscape(true);
    return cp < 0 ? -2 : cp;
  }
}
