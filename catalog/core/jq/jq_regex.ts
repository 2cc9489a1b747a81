/// <reference path="../portable.d.ts" />
/**
 * Regular expressions as jq 1.6 compiles them (Oniguruma, Perl_NT syntax,
 * UTF-8, with every group capturing): parsed into a tree, then compiled to
 * a program for the backtracking matcher in `jq_regex_match.ts`.
 *
 * Supported: literals and escapes (`\t \n \r \f \v \a \e \xHH \x{H…} \cX
 * \0oo \Q…\E`), `.`, classes (`[…]`, ranges, negation, `\d \w \s \h` and
 * their negations, POSIX `[:name:]`), anchors (`^ $ \A \z \Z \b \B \G`),
 * quantifiers (greedy, lazy, possessive, `{n,m}`), groups (capturing,
 * `(?:…)`, named `(?<n>…)`, atomic `(?>…)`, look-ahead/behind), inline
 * options `(?imsx-imsx)` and `(?imsx-imsx:…)`, back-references (`\1`,
 * `\k<n>`), `\K`, `\R`, `\p{…}` for common properties, comments. Unicode
 * classes come from `jq_unicode_tables.ts`; case-insensitive matching uses
 * simple (one code point) case folding.
 */
import {
  ALPHA,
  DIGIT,
  inTable,
  LETTER,
  LOWER,
  LOWER_LETTER,
  NUMBER,
  PUNCT,
  SPACE,
  UPPER,
  UPPER_LETTER,
  WORD,
} from "./jq_unicode_tables.ts";

// Instruction opcodes (each instruction is 4 ints: op, a, b, c).
export const R_CHAR: i32 = 1;
export const R_CHARI: i32 = 2;
export const R_ANY: i32 = 3;
export const R_ANYNL: i32 = 4;
export const R_SET: i32 = 5;
export const R_SPLIT: i32 = 6;
export const R_JMP: i32 = 7;
export const R_SAVE: i32 = 8;
export const R_ASSERT: i32 = 9;
export const R_BREF: i32 = 10;
export const R_LOOK: i32 = 11;
export const R_ATOMIC: i32 = 12;
export const R_KEEP: i32 = 13;
export const R_MARK: i32 = 14;
export const R_CHECK: i32 = 15;
export const R_CSET: i32 = 16;
export const R_CINC: i32 = 17;
export const R_CLOOP: i32 = 18;
export const R_MATCH: i32 = 19;
export const R_ENDAT: i32 = 20;

// Assertions (R_ASSERT a).
export const A_START: i32 = 1;
export const A_END: i32 = 2;
export const A_END_NL: i32 = 3;
export const A_LINE_START: i32 = 4;
export const A_LINE_END: i32 = 5;
export const A_WORD: i32 = 6;
export const A_NOT_WORD: i32 = 7;
export const A_SEARCH_START: i32 = 8;

// Look-around kinds (R_LOOK b).
export const L_AHEAD: i32 = 0;
export const L_AHEAD_NOT: i32 = 1;
export const L_BEHIND: i32 = 2;
export const L_BEHIND_NOT: i32 = 3;

// Class items (RxSet).
const C_RANGE: i32 = 0;
const C_TABLE: i32 = 1;
const C_NOT_TABLE: i32 = 2;

/** Named character classes for `\d \w \s`, POSIX brackets and `\p{…}`. */
export const K_DIGIT: i32 = 0;
export const K_WORD: i32 = 1;
export const K_SPACE: i32 = 2;
export const K_ALPHA: i32 = 4;
export const K_UPPER: i32 = 5;
export const K_LOWER: i32 = 6;
export const K_PUNCT: i32 = 7;
export const K_ALNUM: i32 = 8;
export const K_XDIGIT: i32 = 9;
export const K_CNTRL: i32 = 10;
export const K_BLANK: i32 = 11;
export const K_GRAPH: i32 = 12;
export const K_PRINT: i32 = 13;
export const K_LETTER: i32 = 14;
export const K_NUMBER: i32 = 15;
export const K_ASCII: i32 = 16;
export const K_ANY: i32 = 17;
export const K_UPPER_LETTER: i32 = 18;
export const K_LOWER_LETTER: i32 = 19;

/** Whether `c` belongs to named class `kind`. */
export function inClass(kind: i32, c: i32): bool {
  switch (kind) {
    case K_DIGIT:
      return c < 0x80 ? c >= 0x30 && c <= 0x39 : inTable(DIGIT, c);
    case K_WORD:
      if (c < 0x80) {
        return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
          c == 0x5f;
      }
      return inTable(WORD, c);
    case K_SPACE:
      return c < 0x80 ? (c >= 9 && c <= 13) || c == 0x20 : inTable(SPACE, c);
    case K_ALPHA:
      return inTable(ALPHA, c);
    case K_UPPER:
      return inTable(UPPER, c);
    case K_LOWER:
      return inTable(LOWER, c);
    case K_PUNCT:
      return inTable(PUNCT, c);
    case K_ALNUM:
      return inTable(ALPHA, c) || inClass(K_DIGIT, c);
    case K_XDIGIT:
      return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
    case K_CNTRL:
      return c < 0x20 || (c >= 0x7f && c <= 0x9f);
    case K_BLANK:
      return c == 9 || (inClass(K_SPACE, c) && !(c >= 10 && c <= 13) && c != 0x85 &&
        c != 0x2028 && c != 0x2029);
    case K_GRAPH:
      return !inClass(K_SPACE, c) && !inClass(K_CNTRL, c) && !(c >= 0xd800 && c <= 0xdfff);
    case K_PRINT:
      return (!inClass(K_SPACE, c) || inClass(K_BLANK, c) && c != 9) && !inClass(K_CNTRL, c) &&
        !(c >= 0xd800 && c <= 0xdfff);
    case K_LETTER:
      return inTable(LETTER, c);
    case K_NUMBER:
      return inTable(NUMBER, c);
    case K_ASCII:
      return c < 0x80;
    case K_UPPER_LETTER:
      return inTable(UPPER_LETTER, c);
    case K_LOWER_LETTER:
      return inTable(LOWER_LETTER, c);
    default:
      return true;
  }
}

/** A character class: ranges and named classes, maybe negated. */
export class RxSet {
  kinds: Array<i32> = new Array<i32>();
  a: Array<i32> = new Array<i32>();
  b: Array<i32> = new Array<i32>();
  negated: bool = false;

  addRange(lo: i32, hi: i32): void {
    this.kinds.push(C_RANGE);
    this.a.push(lo);
    this.b.push(hi);
  }

  addClass(kind: i32, negated: bool): void {
    this.kinds.push(negated ? C_NOT_TABLE : C_TABLE);
    this.a.push(kind);
    this.b.push(0);
  }

  contains(c: i32): bool {
    let found = false;
    for (let i = 0; i < this.kinds.length; i++) {
      const k = this.kinds[i];
      if (k == C_RANGE) {
        if (c >= this.a[i] && c <= this.b[i]) {
          found = true;
          break;
        }
      } else if (inClass(this.a[i], c) == (k == C_TABLE)) {
        found = true;
        break;
      }
    }
    return found != this.negated;
  }
}

/** Simple case folding of one code point (`upper` then `lower`, as one code point). */
export function foldCase(c: i32): i32 {
  if (c < 0x80) return c >= 0x41 && c <= 0x5a ? c + 32 : c;
  if (c >= 0xd800 && c <= 0xdfff) return c;
  const s = String.fromCodePoint(c);
  const up = s.toUpperCase();
  const lower = (up.length <= 2 ? up : s).toLowerCase();
  const first = lower.codePointAt(0) as i32;
  const width = first >= 0x10000 ? 2 : 1;
  return lower.length == width ? first : c;
}

/** A compiled pattern (or a look-around/atomic sub-pattern). */
export class RxProgram {
  code: Array<i32> = new Array<i32>();
  sets: Array<RxSet> = new Array<RxSet>();
  subs: Array<RxProgram> = new Array<RxProgram>();
  /** Capture groups (group 0 is the whole match). */
  groups: i32 = 0;
  /** Group names, one entry per named group. */
  names: Array<string> = new Array<string>();
  nameGroups: Array<i32> = new Array<i32>();
  /** Registers: 2 per group (start, end), then marks and counters, then the \K start. */
  registers: i32 = 0;
  /** Look-behind sub-programs: the shortest and longest text they match. */
  minLength: i32 = 0;
  maxLength: i32 = 0;
  /** Only matches at the start of the text (`\A`, or `^` without (?m)). */
  anchored: bool = false;
  /** A code point every match contains, or -1 (a quick rejection test). */
  required: i32 = -1;
  /** The register of `\K` (where the reported match starts), or -1. */
  keepRegister: i32 = -1;
  /** Counted repetitions: counter register, min, max (-1 none), lazy, exit address. */
  repeats: Array<i32> = new Array<i32>();
}

/** A parse or compile error (the text after "Regex failure: "). */
export class RxCompileResult {
  program: RxProgram | null;
  error: string | null;

  constructor(program: RxProgram | null, error: string | null) {
    this.program = program;
    this.error = error;
  }
}

// Tree node kinds.
const N_CHAR: i32 = 0;
const N_ANY: i32 = 1;
const N_SET: i32 = 2;
const N_SEQ: i32 = 3;
const N_ALT: i32 = 4;
const N_GROUP: i32 = 5;
const N_REPEAT: i32 = 6;
const N_BREF: i32 = 7;
const N_ASSERT: i32 = 8;
const N_LOOK: i32 = 9;
const N_ATOMIC: i32 = 10;
const N_KEEP: i32 = 11;
const N_EMPTY: i32 = 12;

const GREEDY: i32 = 0;
const LAZY: i32 = 1;
const POSSESSIVE: i32 = 2;

/** Largest count in `{n,m}`, as in Oniguruma. */
const MAX_REPEAT: i32 = 100000;

class RxNode {
  kind: i32;
  /** CHAR: code point; GROUP: group number (-1: none); BREF: group; ASSERT: kind; LOOK: kind. */
  value: i32 = 0;
  ci: bool = false;
  dotAll: bool = false;
  set: RxSet | null = null;
  children: Array<RxNode> = new Array<RxNode>();
  min: i32 = 0;
  max: i32 = 0;
  mode: i32 = GREEDY;

  constructor(kind: i32) {
    this.kind = kind;
  }
}

class Options {
  ci: bool;
  extended: bool;
  dotAll: bool;
  multiline: bool;

  constructor(ci: bool, extended: bool, dotAll: bool, multiline: bool) {
    this.ci = ci;
    this.extended = extended;
    this.dotAll = dotAll;
    this.multiline = multiline;
  }

  copy(): Options {
    return new Options(this.ci, this.extended, this.dotAll, this.multiline);
  }
}

/**
 * Compiles `pattern` with jq's option flags (`i` case-insensitive, `x`
 * extended, `p` dot matches newline; `s` changes nothing under this
 * syntax).
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { compileRegex } from "./jq_regex.ts";
 * console.assert(compileRegex("(a)(?<n>b)", false, false, false).program!.groups === 2);
 * console.assert(compileRegex("(", false, false, false).error === "end pattern with unmatched parenthesis");
 * ```
 */
export function compileRegex(
  pattern: string,
  ignoreCase: bool,
  extended: bool,
  dotAll: bool,
): RxCompileResult {
  const p = new RxParser(pattern);
  const root = p.parseAlternation(new Options(ignoreCase, extended, dotAll, false), 0);
  if (p.error == null && p.pos < p.cps.length) p.fail("unmatched close parenthesis");
  if (p.error == null) p.checkBackrefs(root);
  if (p.error != null) return new RxCompileResult(null, p.error);
  const prog = new RxProgram();
  prog.groups = p.groups;
  prog.names = p.names;
  prog.nameGroups = p.nameGroups;
  const c = new RxCompiler(prog, p.groups);
  c.emitNode(root);
  c.emit(R_MATCH, 0, 0, 0);
  if (c.error != null) return new RxCompileResult(null, c.error);
  prog.registers = c.nextRegister;
  prog.anchored = startsAnchored(root);
  prog.required = requiredChar(root);
  return new RxCompileResult(prog, null);
}

function isDigitCp(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

function hexDigit(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

class RxParser {
  cps: Array<i32>;
  pos: i32 = 0;
  error: string | null = null;
  groups: i32 = 0;
  names: Array<string> = new Array<string>();
  nameGroups: Array<i32> = new Array<i32>();
  /** Named back-references to check once all groups are known. */
  pendingNames: Array<string> = new Array<string>();
  pendingNodes: Array<RxNode> = new Array<RxNode>();

  constructor(pattern: string) {
    const cps = new Array<i32>();
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern.codePointAt(i) as i32;
      cps.push(c);
      if (c >= 0x10000) i++;
    }
    this.cps = cps;
  }

  fail(message: string): void {
    if (this.error == null) this.error = message;
  }

  peek(): i32 {
    return this.pos < this.cps.length ? this.cps[this.pos] : -1;
  }

  at(i: i32): i32 {
    return i < this.cps.length ? this.cps[i] : -1;
  }

  skipExtended(opt: Options): void {
    if (!opt.extended) return;
    while (this.pos < this.cps.length) {
      const c = this.cps[this.pos];
      if (c == 0x20 || (c >= 9 && c <= 13)) {
        this.pos++;
      } else if (c == 0x23) {
        while (this.pos < this.cps.length && this.cps[this.pos] != 0x0a) this.pos++;
      } else {
        break;
      }
    }
  }

  /** alternation := sequence ('|' sequence)* */
  parseAlternation(opt: Options, depth: i32): RxNode {
    const alts = new Array<RxNode>();
    const o = opt.copy();
    alts.push(this.parseSequence(o, depth));
    while (this.error == null && this.peek() == 0x7c) {
      this.pos++;
      alts.push(this.parseSequence(o, depth));
    }
    if (alts.length == 1) return alts[0];
    const n = new RxNode(N_ALT);
    n.children = alts;
    return n;
  }

  /** sequence := (atom quantifier*)* ; inline `(?i)` changes `opt` for the rest of the group. */
  parseSequence(opt: Options, depth: i32): RxNode {
    const seq = new RxNode(N_SEQ);
    while (this.error == null) {
      this.skipExtended(opt);
      const c = this.peek();
      if (c < 0 || c == 0x7c || c == 0x29) break;
      if (c == 0x2a || c == 0x2b || c == 0x3f) {
        this.fail("target of repeat operator is not specified");
        break;
      }
      if (c == 0x7b && this.intervalAt(this.pos)) {
        this.fail("target of repeat operator is not specified");
        break;
      }
      // Inline options without a group body apply to the rest of this sequence.
      if (c == 0x28 && this.at(this.pos + 1) == 0x3f && this.inlineOptionsOnly()) {
        const rest = this.parseInlineOptions(opt);
        if (rest != null) {
          seq.children.push(rest);
          break;
        }
        continue;
      }
      let atom = this.parseAtom(opt, depth);
      if (atom == null) continue;
      atom = this.parseQuantifiers(atom!, opt);
      seq.children.push(atom!);
    }
    if (seq.children.length == 1) return seq.children[0];
    if (seq.children.length == 0) return new RxNode(N_EMPTY);
    return seq;
  }

  /** Whether `(?…` at pos is an options-only group `(?imsx-imsx)` (no colon). */
  inlineOptionsOnly(): bool {
    let i = this.pos + 2;
    while (i < this.cps.length) {
      const c = this.cps[i];
      if (c == 0x29) return i > this.pos + 2;
      if (c != 0x69 && c != 0x6d && c != 0x73 && c != 0x78 && c != 0x2d) return false;
      i++;
    }
    return false;
  }

  /** Applies `(?imsx-imsx)`; the rest of the enclosing group is parsed under the new options. */
  parseInlineOptions(opt: Options): RxNode | null {
    this.pos += 2;
    let on = true;
    while (this.peek() != 0x29) {
      const c = this.cps[this.pos++];
      if (c == 0x2d) on = false;
      else if (c == 0x69) opt.ci = on;
      else if (c == 0x6d) opt.multiline = on;
      else if (c == 0x73) opt.dotAll = on;
      else if (c == 0x78) opt.extended = on;
    }
    this.pos++;
    return null;
  }

  /** Whether `{` at i starts a valid interval `{n}`, `{n,}` or `{n,m}` (Perl syntax). */
  intervalAt(i: i32): bool {
    let j = i + 1;
    const start = j;
    while (isDigitCp(this.at(j))) j++;
    if (j == start) return false;
    if (this.at(j) == 0x7d) return true;
    if (this.at(j) != 0x2c) return false;
    j++;
    while (isDigitCp(this.at(j))) j++;
    return this.at(j) == 0x7d;
  }

  readNumber(): i32 {
    let v = 0;
    while (isDigitCp(this.peek())) {
      v = v * 10 + (this.cps[this.pos++] - 0x30);
      if (v > MAX_REPEAT) v = MAX_REPEAT + 1;
    }
    return v;
  }

  parseQuantifiers(atom: RxNode, opt: Options): RxNode {
    let node = atom;
    while (this.error == null) {
      this.skipExtended(opt);
      const c = this.peek();
      let min = 0;
      let max = 0;
      if (c == 0x2a) {
        min = 0;
        max = -1;
        this.pos++;
      } else if (c == 0x2b) {
        min = 1;
        max = -1;
        this.pos++;
      } else if (c == 0x3f) {
        min = 0;
        max = 1;
        this.pos++;
      } else if (c == 0x7b && this.intervalAt(this.pos)) {
        this.pos++;
        min = this.readNumber();
        if (this.peek() == 0x2c) {
          this.pos++;
          max = isDigitCp(this.peek()) ? this.readNumber() : -1;
        } else {
          max = min;
        }
        this.pos++; // }
        if (min > MAX_REPEAT || max > MAX_REPEAT) {
          this.fail("too big number for repeat range");
          return node;
        }
        if (max >= 0 && max < min) {
          this.fail("upper is smaller than lower in repeat range");
          return node;
        }
      } else {
        break;
      }
      let mode = GREEDY;
      if (this.peek() == 0x3f) {
        mode = LAZY;
        this.pos++;
      } else if (this.peek() == 0x2b && !(c == 0x7b)) {
        mode = POSSESSIVE;
        this.pos++;
      }
      const r = new RxNode(N_REPEAT);
      r.children.push(node);
      r.min = min;
      r.max = max;
      r.mode = mode;
      node = r;
    }
    return node;
  }

  parseAtom(opt: Options, depth: i32): RxNode | null {
    const c = this.cps[this.pos];
    if (c == 0x28) return this.parseGroup(opt, depth);
    if (c == 0x5b) return this.parseClass(opt);
    if (c == 0x2e) {
      this.pos++;
      const n = new RxNode(N_ANY);
      n.dotAll = opt.dotAll;
      return n;
    }
    if (c == 0x5e) {
      this.pos++;
      return assertNode(opt.multiline ? A_LINE_START : A_START);
    }
    if (c == 0x24) {
      this.pos++;
      return assertNode(opt.multiline ? A_LINE_END : A_END_NL);
    }
    if (c == 0x5c) return this.parseEscape(opt);
    this.pos++;
    return charNode(c, opt.ci);
  }

  parseGroup(opt: Options, depth: i32): RxNode | null {
    if (depth > 200) {
      this.fail("too deep nesting");
      return null;
    }
    this.pos++; // (
    let capture = true;
    let name = "";
    let look = -1;
    let atomic = false;
    const inner = opt.copy();
    if (this.peek() == 0x3f) {
      this.pos++;
      const k = this.peek();
      if (k == 0x3a) {
        this.pos++;
        capture = false;
      } else if (k == 0x3d || k == 0x21) {
        this.pos++;
        capture = false;
        look = k == 0x3d ? L_AHEAD : L_AHEAD_NOT;
      } else if (k == 0x3e) {
        this.pos++;
        capture = false;
        atomic = true;
      } else if (k == 0x23) {
        while (this.pos < this.cps.length && this.cps[this.pos] != 0x29) this.pos++;
        if (this.pos >= this.cps.length) {
          this.fail("end pattern in group");
          return null;
        }
        this.pos++;
        return null;
      } else if (k == 0x3c && (this.at(this.pos + 1) == 0x3d || this.at(this.pos + 1) == 0x21)) {
        look = this.at(this.pos + 1) == 0x3d ? L_BEHIND : L_BEHIND_NOT;
        this.pos += 2;
        capture = false;
      } else if (k == 0x3c || k == 0x27) {
        const close = k == 0x3c ? 0x3e : 0x27;
        this.pos++;
        const start = this.pos;
        while (this.pos < this.cps.length && this.cps[this.pos] != close) this.pos++;
        if (this.pos >= this.cps.length || this.pos == start) {
          this.fail("invalid group name <>");
          return null;
        }
        name = cpsToString(this.cps, start, this.pos);
        this.pos++;
      } else {
        // (?imsx-imsx: … )
        let on = true;
        let ok = false;
        while (this.pos < this.cps.length) {
          const c = this.cps[this.pos++];
          if (c == 0x3a) {
            ok = true;
            break;
          }
          if (c == 0x2d) on = false;
          else if (c == 0x69) inner.ci = on;
          else if (c == 0x6d) inner.multiline = on;
          else if (c == 0x73) inner.dotAll = on;
          else if (c == 0x78) inner.extended = on;
          else break;
        }
        if (!ok) {
          this.fail(k == 0x28 ? "invalid backref number/name" : "undefined group option");
          return null;
        }
        capture = false;
      }
    }
    let group = -1;
    if (capture) {
      group = ++this.groups;
      if (name.length > 0) {
        this.names.push(name);
        this.nameGroups.push(group);
      }
    }
    const body = this.parseAlternation(inner, depth + 1);
    if (this.error != null) return null;
    if (this.peek() != 0x29) {
      this.fail("end pattern with unmatched parenthesis");
      return null;
    }
    this.pos++;
    if (look >= 0) {
      const n = new RxNode(N_LOOK);
      n.value = look;
      n.children.push(body);
      return n;
    }
    if (atomic) {
      const n = new RxNode(N_ATOMIC);
      n.children.push(body);
      return n;
    }
    const n = new RxNode(N_GROUP);
    n.value = group;
    n.children.push(body);
    return n;
  }

  /** `[…]`: no nesting and no `&&` in this syntax (`[` is literal inside). */
  parseClass(opt: Options): RxNode | null {
    this.pos++;
    const set = new RxSet();
    if (this.peek() == 0x5e) {
      set.negated = true;
      this.pos++;
    }
    let first = true;
    while (true) {
      if (this.pos >= this.cps.length) {
        this.fail("premature end of char-class");
        return null;
      }
      let c = this.cps[this.pos];
      if (c == 0x5d && !first) {
        this.pos++;
        break;
      }
      first = false;
      if (c == 0x5b && this.at(this.pos + 1) == 0x3a && this.posixClass(set)) continue;
      let lo = -1;
      if (c == 0x5c) {
        this.pos++;
        if (this.pos >= this.cps.length) {
          this.fail("premature end of char-class");
          return null;
        }
        const e = this.cps[this.pos];
        const cls = classEscape(e);
        if (cls >= 0) {
          this.pos++;
          set.addClass(cls, e >= 0x41 && e <= 0x5a);
          continue;
        }
        if (e == 0x70 || e == 0x50) {
          const kind = this.property();
          if (kind < 0) return null;
          set.addClass(kind, e == 0x50 != this.lastPropertyNegated);
          continue;
        }
        lo = this.escapedChar();
        if (lo < 0) return null;
      } else {
        this.pos++;
        lo = c;
      }
      // A range `lo-hi` (a '-' before ']' or at the end is literal).
      if (this.peek() == 0x2d && this.at(this.pos + 1) != 0x5d && this.at(this.pos + 1) >= 0) {
        this.pos++;
        c = this.cps[this.pos];
        let hi = -1;
        if (c == 0x5c) {
          this.pos++;
          if (classEscape(this.peek()) >= 0) {
            this.fail("char-class value at end of range");
            return null;
          }
          hi = this.escapedChar();
          if (hi < 0) return null;
        } else {
          this.pos++;
          hi = c;
        }
        if (hi < lo) {
          this.fail("empty range in char class");
          return null;
        }
        addRange(set, lo, hi, opt.ci);
        continue;
      }
      addRange(set, lo, lo, opt.ci);
    }
    const n = new RxNode(N_SET);
    n.set = set;
    n.ci = opt.ci;
    return n;
  }

  /** `[:name:]` or `[:^name:]` at pos: added to `set` (pos moved past it), or false. */
  posixClass(set: RxSet): bool {
    let i = this.pos + 2;
    let negated = false;
    if (this.at(i) == 0x5e) {
      negated = true;
      i++;
    }
    const start = i;
    while (i < this.cps.length && this.cps[i] != 0x3a && this.cps[i] != 0x5d) i++;
    if (this.at(i) != 0x3a || this.at(i + 1) != 0x5d) return false;
    const kind = posixKind(cpsToString(this.cps, start, i));
    if (kind < 0) return false;
    this.pos = i + 2;
    set.addClass(kind, negated);
    return true;
  }

  lastPropertyNegated: bool = false;

  /** `\p{Name}` / `\p{^Name}` after the backslash: the class kind, or -1 after an error. */
  property(): i32 {
    this.pos++; // p or P
    if (this.peek() != 0x7b) {
      this.fail("invalid character property name {" + "}");
      return -1;
    }
    this.pos++;
    this.lastPropertyNegated = false;
    if (this.peek() == 0x5e) {
      this.lastPropertyNegated = true;
      this.pos++;
    }
    const start = this.pos;
    while (this.pos < this.cps.length && this.cps[this.pos] != 0x7d) this.pos++;
    const name = cpsToString(this.cps, start, this.pos);
    if (this.pos >= this.cps.length) {
      this.fail("invalid character property name {" + name);
      return -1;
    }
    this.pos++;
    const kind = propertyKind(name);
    if (kind < 0) this.fail("invalid character property name {" + name + "}");
    return kind;
  }

  /** A single-character escape after `\` (pos at the char after the backslash). */
  escapedChar(): i32 {
    const e = this.cps[this.pos++];
    switch (e) {
      case 0x74:
        return 9;
      case 0x6e:
        return 10;
      case 0x72:
        return 13;
      case 0x66:
        return 12;
      case 0x76:
        return 11;
      case 0x61:
        return 7;
      case 0x65:
        return 27;
      case 0x78: {
        if (this.peek() == 0x7b) {
          this.pos++;
          let v = 0;
          let n = 0;
          while (hexDigit(this.peek()) >= 0) {
            v = v * 16 + hexDigit(this.cps[this.pos++]);
            n++;
            if (v > 0x10ffff) {
              this.fail("too big wide-char value");
              return -1;
            }
          }
          if (this.peek() != 0x7d || n == 0) {
            this.fail("invalid code point value");
            return -1;
          }
          this.pos++;
          return v;
        }
        let v = 0;
        for (let i = 0; i < 2 && hexDigit(this.peek()) >= 0; i++) {
          v = v * 16 + hexDigit(this.cps[this.pos++]);
        }
        return v;
      }
      case 0x30: {
        let v = 0;
        for (let i = 0; i < 2 && this.peek() >= 0x30 && this.peek() <= 0x37; i++) {
          v = v * 8 + (this.cps[this.pos++] - 0x30);
        }
        return v;
      }
      case 0x63: {
        const x = this.peek();
        if (x < 0) {
          this.fail("end pattern at control");
          return -1;
        }
        this.pos++;
        return x & 0x1f;
      }
      default:
        return e;
    }
  }

  parseEscape(opt: Options): RxNode | null {
    this.pos++;
    if (this.pos >= this.cps.length) {
      this.fail("end pattern at escape");
      return null;
    }
    const e = this.cps[this.pos];
    const cls = classEscape(e);
    if (cls >= 0) {
      this.pos++;
      const set = new RxSet();
      set.addClass(cls, e >= 0x41 && e <= 0x5a);
      const n = new RxNode(N_SET);
      n.set = set;
      return n;
    }
    switch (e) {
      case 0x41:
        this.pos++;
        return assertNode(A_START);
      case 0x7a:
        this.pos++;
        return assertNode(A_END);
      case 0x5a:
        this.pos++;
        return assertNode(A_END_NL);
      case 0x62:
        this.pos++;
        return assertNode(A_WORD);
      case 0x42:
        this.pos++;
        return assertNode(A_NOT_WORD);
      case 0x47:
        this.pos++;
        return assertNode(A_SEARCH_START);
      case 0x4b:
        this.pos++;
        return new RxNode(N_KEEP);
      case 0x52: {
        // \R: (?>\r\n|[\n\v\f\r\x85\u2028\u2029])
        this.pos++;
        const crlf = new RxNode(N_SEQ);
        crlf.children.push(charNode(13, false));
        crlf.children.push(charNode(10, false));
        const set = new RxSet();
        set.addRange(10, 13);
        set.addRange(0x85, 0x85);
        set.addRange(0x2028, 0x2029);
        const one = new RxNode(N_SET);
        one.set = set;
        const alt = new RxNode(N_ALT);
        alt.children.push(crlf);
        alt.children.push(one);
        const atomic = new RxNode(N_ATOMIC);
        atomic.children.push(alt);
        return atomic;
      }
      case 0x58:
        this.fail("\\X (extended grapheme clusters) is not supported by this engine");
        return null;
      case 0x70:
      case 0x50: {
        const kind = this.property();
        if (kind < 0) return null;
        const set = new RxSet();
        set.addClass(kind, (e == 0x50) != this.lastPropertyNegated);
        const n = new RxNode(N_SET);
        n.set = set;
        return n;
      }
      case 0x51: {
        // \Q…\E: literal text.
        this.pos++;
        const seq = new RxNode(N_SEQ);
        while (this.pos < this.cps.length) {
          if (this.cps[this.pos] == 0x5c && this.at(this.pos + 1) == 0x45) {
            this.pos += 2;
            break;
          }
          seq.children.push(charNode(this.cps[this.pos++], opt.ci));
        }
        return seq;
      }
      case 0x6b: {
        // \k<name> or \k<n>
        this.pos++;
        if (this.peek() != 0x3c) {
          this.fail("invalid backref number/name");
          return null;
        }
        this.pos++;
        const start = this.pos;
        while (this.pos < this.cps.length && this.cps[this.pos] != 0x3e) this.pos++;
        if (this.pos >= this.cps.length) {
          this.fail("invalid backref number/name");
          return null;
        }
        const name = cpsToString(this.cps, start, this.pos);
        this.pos++;
        const n = new RxNode(N_BREF);
        n.ci = opt.ci;
        let num = 0;
        let numeric = name.length > 0;
        for (let i = 0; i < name.length; i++) {
          const d = name.charCodeAt(i);
          if (d < 0x30 || d > 0x39) numeric = false;
          else num = num * 10 + (d - 0x30);
        }
        if (numeric) {
          n.value = num;
        } else {
          n.value = -1;
          this.pendingNames.push(name);
          this.pendingNodes.push(n);
        }
        return n;
      }
      default:
        break;
    }
    if (e >= 0x31 && e <= 0x39) {
      // A back-reference \1..\9 (more digits while they name a group).
      let num = 0;
      let p = this.pos;
      while (isDigitCp(this.at(p))) {
        const next = num * 10 + (this.cps[p] - 0x30);
        if (num > 0 && next > this.groupsAhead()) break;
        num = next;
        p++;
      }
      this.pos = p;
      const n = new RxNode(N_BREF);
      n.value = num;
      n.ci = opt.ci;
      return n;
    }
    const c = this.escapedChar();
    if (c < 0) return null;
    return charNode(c, opt.ci);
  }

  /** How many groups the whole pattern has (for multi-digit back-references). */
  groupsAhead(): i32 {
    let n = 0;
    for (let i = 0; i < this.cps.length; i++) {
      if (this.cps[i] == 0x5c) {
        i++;
        continue;
      }
      if (this.cps[i] == 0x28 && this.at(i + 1) != 0x3f) n++;
      else if (
        this.cps[i] == 0x28 && this.at(i + 2) == 0x3c && this.at(i + 3) != 0x3d &&
        this.at(i + 3) != 0x21
      ) n++;
    }
    return n;
  }

  /** Back-references must name existing groups. */
  checkBackrefs(root: RxNode): void {
    for (let i = 0; i < this.pendingNames.length; i++) {
      let group = -1;
      for (let j = 0; j < this.names.length; j++) {
        if (this.names[j] == this.pendingNames[i]) group = this.nameGroups[j];
      }
      if (group < 0) {
        this.fail("undefined name <" + this.pendingNames[i] + "> reference");
        return;
      }
      this.pendingNodes[i].value = group;
    }
    this.checkNumbers(root);
  }

  checkNumbers(n: RxNode): void {
    if (n.kind == N_BREF && (n.value < 1 || n.value > this.groups)) {
      this.fail("invalid backref number/name");
      return;
    }
    for (let i = 0; i < n.children.length; i++) this.checkNumbers(n.children[i]);
  }
}

function charNode(c: i32, ci: bool): RxNode {
  const n = new RxNode(N_CHAR);
  n.value = ci ? foldCase(c) : c;
  n.ci = ci;
  return n;
}

function assertNode(kind: i32): RxNode {
  const n = new RxNode(N_ASSERT);
  n.value = kind;
  return n;
}

function addRange(set: RxSet, lo: i32, hi: i32, ci: bool): void {
  set.addRange(lo, hi);
  if (!ci) return;
  // Case-insensitive classes also hold the other cases of their letters.
  if (hi - lo > 2000) return;
  for (let c = lo; c <= hi; c++) {
    const f = foldCase(c);
    if (f != c) set.addRange(f, f);
    if (c < 0x80 && c >= 0x61 && c <= 0x7a) set.addRange(c - 32, c - 32);
  }
}

function classEscape(e: i32): i32 {
  switch (e) {
    case 0x64:
    case 0x44:
      return K_DIGIT;
    case 0x77:
    case 0x57:
      return K_WORD;
    case 0x73:
    case 0x53:
      return K_SPACE;
    default:
      // `\h` is a plain "h" in this syntax.
      return -1;
  }
}

function posixKind(name: string): i32 {
  if (name == "alpha") return K_ALPHA;
  if (name == "digit") return K_DIGIT;
  if (name == "alnum") return K_ALNUM;
  if (name == "upper") return K_UPPER;
  if (name == "lower") return K_LOWER;
  if (name == "space") return K_SPACE;
  if (name == "punct") return K_PUNCT;
  if (name == "xdigit") return K_XDIGIT;
  if (name == "cntrl") return K_CNTRL;
  if (name == "blank") return K_BLANK;
  if (name == "graph") return K_GRAPH;
  if (name == "print") return K_PRINT;
  if (name == "word") return K_WORD;
  if (name == "ascii") return K_ASCII;
  return -1;
}

function propertyKind(raw: string): i32 {
  const name = raw.toLowerCase().split("_").join("").split(" ").join("");
  if (name == "l" || name == "letter") return K_LETTER;
  if (name == "lu" || name == "uppercaseletter") return K_UPPER_LETTER;
  if (name == "ll" || name == "lowercaseletter") return K_LOWER_LETTER;
  if (name == "n" || name == "number") return K_NUMBER;
  if (name == "nd" || name == "digit" || name == "decimalnumber") return K_DIGIT;
  if (name == "p" || name == "punct" || name == "punctuation") return K_PUNCT;
  if (name == "alpha" || name == "alphabetic") return K_ALPHA;
  if (name == "upper" || name == "uppercase") return K_UPPER;
  if (name == "lower" || name == "lowercase") return K_LOWER;
  if (name == "space" || name == "whitespace") return K_SPACE;
  if (name == "word") return K_WORD;
  if (name == "alnum") return K_ALNUM;
  if (name == "xdigit") return K_XDIGIT;
  if (name == "cntrl" || name == "cc" || name == "control") return K_CNTRL;
  if (name == "blank") return K_BLANK;
  if (name == "graph") return K_GRAPH;
  if (name == "print") return K_PRINT;
  if (name == "ascii") return K_ASCII;
  if (name == "any") return K_ANY;
  return -1;
}

function cpsToString(cps: Array<i32>, start: i32, end: i32): string {
  const parts = new Array<string>();
  for (let i = start; i < end; i++) parts.push(String.fromCodePoint(cps[i]));
  return parts.join("");
}

/** Whether every match must start at the beginning of the text. */
function startsAnchored(n: RxNode): bool {
  if (n.kind == N_ASSERT) return n.value == A_START;
  if (n.kind == N_SEQ) return n.children.length > 0 && startsAnchored(n.children[0]);
  if (n.kind == N_GROUP || n.kind == N_ATOMIC) return startsAnchored(n.children[0]);
  if (n.kind == N_ALT) {
    for (let i = 0; i < n.children.length; i++) {
      if (!startsAnchored(n.children[i])) return false;
    }
    return true;
  }
  return false;
}

/** A (case-sensitive) code point that every match contains, or -1. */
function requiredChar(n: RxNode): i32 {
  switch (n.kind) {
    case N_CHAR:
      return n.ci ? -1 : n.value;
    case N_SEQ:
      for (let i = 0; i < n.children.length; i++) {
        const r = requiredChar(n.children[i]);
        if (r >= 0) return r;
      }
      return -1;
    case N_GROUP:
    case N_ATOMIC:
      return requiredChar(n.children[0]);
    case N_REPEAT:
      return n.min > 0 ? requiredChar(n.children[0]) : -1;
    default:
      return -1;
  }
}

/** Shortest and longest text a node matches (-1: unbounded), for look-behind. */
function lengths(n: RxNode, out: Array<i32>): void {
  switch (n.kind) {
    case N_CHAR:
    case N_ANY:
    case N_SET:
      out[0] = 1;
      out[1] = 1;
      return;
    case N_SEQ: {
      let lo = 0;
      let hi = 0;
      const t = new Array<i32>(2);
      for (let i = 0; i < n.children.length; i++) {
        lengths(n.children[i], t);
        lo += t[0];
        hi = hi < 0 || t[1] < 0 ? -1 : hi + t[1];
      }
      out[0] = lo;
      out[1] = hi;
      return;
    }
    case N_ALT: {
      let lo = 0x7fffffff;
      let hi = 0;
      const t = new Array<i32>(2);
      for (let i = 0; i < n.children.length; i++) {
        lengths(n.children[i], t);
        if (t[0] < lo) lo = t[0];
        hi = hi < 0 || t[1] < 0 ? -1 : (t[1] > hi ? t[1] : hi);
      }
      out[0] = lo;
      out[1] = hi;
      return;
    }
    case N_GROUP:
    case N_ATOMIC:
      lengths(n.children[0], out);
      return;
    case N_REPEAT: {
      lengths(n.children[0], out);
      const lo = out[0] * n.min;
      const hi = n.max < 0 || out[1] < 0 ? -1 : out[1] * n.max;
      out[0] = lo;
      out[1] = hi;
      return;
    }
    case N_BREF:
      out[0] = 0;
      out[1] = -1;
      return;
    default:
      out[0] = 0;
      out[1] = 0;
  }
}

class RxCompiler {
  prog: RxProgram;
  groups: i32;
  nextRegister: i32;
  error: string | null = null;

  constructor(prog: RxProgram, groups: i32) {
    this.prog = prog;
    this.groups = groups;
    this.nextRegister = 2 * (groups + 1);
  }

  emit(op: i32, a: i32, b: i32, c: i32): i32 {
    const at = this.prog.code.length;
    this.prog.code.push(op);
    this.prog.code.push(a);
    this.prog.code.push(b);
    this.prog.code.push(c);
    return at;
  }

  patch(at: i32, slot: i32, value: i32): void {
    this.prog.code[at + slot] = value;
  }

  here(): i32 {
    return this.prog.code.length;
  }

  /** Compiles `n` as a sub-program sharing this program's registers. */
  sub(n: RxNode, lookBehind: bool): i32 {
    const saved = this.prog;
    const sub = new RxProgram();
    sub.groups = saved.groups;
    this.prog = sub;
    this.emitNode(n);
    this.emit(lookBehind ? R_ENDAT : R_MATCH, 0, 0, 0);
    this.prog = saved;
    if (lookBehind) {
      const t = new Array<i32>(2);
      lengths(n, t);
      sub.minLength = t[0];
      sub.maxLength = t[1];
      // This Oniguruma wants look-behind of one fixed length.
      if (t[1] < 0 || t[0] != t[1]) this.error = "invalid pattern in look-behind";
    }
    saved.subs.push(sub);
    return saved.subs.length - 1;
  }

  emitNode(n: RxNode): void {
    switch (n.kind) {
      case N_EMPTY:
        return;
      case N_CHAR:
        this.emit(n.ci ? R_CHARI : R_CHAR, n.value, 0, 0);
        return;
      case N_ANY:
        this.emit(n.dotAll ? R_ANYNL : R_ANY, 0, 0, 0);
        return;
      case N_SET:
        this.prog.sets.push(n.set!);
        this.emit(R_SET, this.prog.sets.length - 1, n.ci ? 1 : 0, 0);
        return;
      case N_SEQ:
        for (let i = 0; i < n.children.length; i++) this.emitNode(n.children[i]);
        return;
      case N_ALT: {
        const jumps = new Array<i32>();
        for (let i = 0; i < n.children.length; i++) {
          if (i < n.children.length - 1) {
            const split = this.emit(R_SPLIT, 0, 0, 0);
            this.patch(split, 1, this.here());
            this.emitNode(n.children[i]);
            jumps.push(this.emit(R_JMP, 0, 0, 0));
            this.patch(split, 2, this.here());
          } else {
            this.emitNode(n.children[i]);
          }
        }
        for (let i = 0; i < jumps.length; i++) this.patch(jumps[i], 1, this.here());
        return;
      }
      case N_GROUP:
        if (n.value > 0) this.emit(R_SAVE, 2 * n.value, 0, 0);
        this.emitNode(n.children[0]);
        if (n.value > 0) this.emit(R_SAVE, 2 * n.value + 1, 0, 0);
        return;
      case N_BREF:
        this.emit(R_BREF, n.value, n.ci ? 1 : 0, 0);
        return;
      case N_ASSERT:
        this.emit(R_ASSERT, n.value, 0, 0);
        return;
      case N_KEEP: {
        if (this.prog.keepRegister < 0) this.prog.keepRegister = this.nextRegister++;
        this.emit(R_KEEP, this.prog.keepRegister, 0, 0);
        return;
      }
      case N_LOOK: {
        const behind = n.value == L_BEHIND || n.value == L_BEHIND_NOT;
        const sub = this.sub(n.children[0], behind);
        this.emit(R_LOOK, sub, n.value, 0);
        return;
      }
      case N_ATOMIC: {
        const sub = this.sub(n.children[0], false);
        this.emit(R_ATOMIC, sub, 0, 0);
        return;
      }
      case N_REPEAT:
        this.emitRepeat(n);
        return;
      default:
        return;
    }
  }

  emitRepeat(n: RxNode): void {
    if (n.mode == POSSESSIVE) {
      const inner = new RxNode(N_REPEAT);
      inner.children = n.children;
      inner.min = n.min;
      inner.max = n.max;
      inner.mode = GREEDY;
      const sub = this.sub(inner, false);
      this.emit(R_ATOMIC, sub, 0, 0);
      return;
    }
    const body = n.children[0];
    const lazy = n.mode == LAZY;
    if (n.min == 0 && n.max == 1) {
      const split = this.emit(R_SPLIT, 0, 0, 0);
      const start = this.here();
      this.emitNode(body);
      const end = this.here();
      this.patch(split, lazy ? 2 : 1, start);
      this.patch(split, lazy ? 1 : 2, end);
      return;
    }
    if (n.max < 0 && n.min <= 1) {
      if (n.min == 1) this.emitNode(body);
      // loop: split body, exit; body: mark; <body>; check (empty iteration exits); jmp loop
      const mark = this.nextRegister++;
      const loop = this.emit(R_SPLIT, 0, 0, 0);
      const bodyStart = this.here();
      this.emit(R_MARK, mark, 0, 0);
      this.emitNode(body);
      const check = this.emit(R_CHECK, mark, 0, 0);
      this.emit(R_JMP, loop, 0, 0);
      const exit = this.here();
      this.patch(loop, lazy ? 2 : 1, bodyStart);
      this.patch(loop, lazy ? 1 : 2, exit);
      this.patch(check, 2, exit);
      return;
    }
    // Counted repetition: a counter register, and a loop that decides per
    // iteration (mandatory below min, optional below max, greedy or lazy).
    const counter = this.nextRegister++;
    const mark = this.nextRegister++;
    const info = this.prog.repeats.length;
    this.prog.repeats.push(counter);
    this.prog.repeats.push(n.min);
    this.prog.repeats.push(n.max);
    this.prog.repeats.push(lazy ? 1 : 0);
    this.prog.repeats.push(0); // exit, patched below
    this.emit(R_CSET, counter, 0, 0);
    const loop = this.emit(R_CLOOP, info, 0, 0);
    const bodyStart = this.here();
    this.emit(R_MARK, mark, 0, 0);
    this.emitNode(body);
    this.emit(R_CINC, info, mark, 0);
    this.emit(R_JMP, loop, 0, 0);
    const exit = this.here();
    this.patch(loop, 2, bodyStart);
    this.patch(loop, 3, exit);
    this.prog.repeats[info + 4] = exit;
  }
}
