/// <reference path="../portable.d.ts" />
/**
 * The syntax tree of a jq filter. One node class with an `op` tag (no
 * virtual dispatch in the evaluator's hot switch); the parser builds it and
 * the compiler resolves names in place.
 */
// deno-lint-ignore verbatim-module-syntax
import { JsonValue } from "../json_value.ts";

/** Node kinds. Comments give the fields each kind uses. */
export enum Op {
  /** `.` */
  Identity = 0,
  /** `..`: a call of `recurse`. */
  RecurseAll,
  /** A constant: `value`. */
  Literal,
  /** `a.str`, `a."str"`: `a` the term, `str` the key, `opt` for `?`. */
  Field,
  /** `a[b]`: `opt` for `?`. */
  Index,
  /** `a[b:c]` (b or c may be null): `opt` for `?`. */
  Slice,
  /** `a[]`: `opt` for `?`. */
  Iterate,
  /** String interpolation: `list` of parts (Literal strings or expressions), `str` the format. */
  Interp,
  /** `@name` applied to `.`: `str` the format name. */
  Format,
  /** `[a]` (a null for `[]`). */
  Array,
  /** `{…}`: `list` holds key, value, key, value, … (value null: `{$x}`-style shorthand resolved by the parser). */
  Object,
  /** `-a` */
  Neg,
  /** `a | b` */
  Pipe,
  /** `a, b` */
  Comma,
  /** Arithmetic or comparison `a op b`: `num` is a {@link BinOp}. */
  Binary,
  /** `a and b` */
  And,
  /** `a or b` */
  Or,
  /** `a // b` */
  Alt,
  /** `if a then b else c end` (elif chains nest in c). */
  If,
  /** `reduce a as pattern (b; c)` */
  Reduce,
  /** `foreach a as pattern (b; c; d)` (d may be null). */
  Foreach,
  /** `a as pattern | b` */
  Bind,
  /** `$name`: `id` the binding, `str` the name. */
  Var,
  /** `def …; a`: `func` the definition, `a` the rest. */
  FuncDef,
  /** A call: `str` name, `list` args, resolved to `func` (jq-defined), `id` (a parameter or local def) or `builtin`. */
  Call,
  /** `try a catch b` (b null without catch); also `a?`. */
  Try,
  /** `label $name | a`: `id` the label binding. */
  Label,
  /** `break $name`: `id` the label binding. */
  Break,
  /** An assignment `a op= b`: `num` is an {@link AssignOp}. */
  Assign,
}

/** `flags` of the Literal nodes that hold the text pieces of an interpolated string. */
export const TEXT_PART: i32 = 1;

/** Binary operators of {@link Op.Binary}. */
export enum BinOp {
  Add = 0,
  Sub,
  Mul,
  Div,
  Mod,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
}

/** Assignment operators of {@link Op.Assign}. */
export enum AssignOp {
  /** `=` */
  Set = 0,
  /** `|=` */
  Update,
  /** `+=` and friends: the arithmetic operator is in `node.flags`. */
  Arith,
  /** `//=` */
  Alt,
}

/** Destructuring pattern kinds. */
export enum PatKind {
  Var = 0,
  Array,
  Object,
}

/** A destructuring pattern (`$x`, `[$a, $b]`, `{a: $x, $b, (f): [$c]}`). */
export class JqPattern {
  kind: i32;
  /** Var: the variable name and binding id. */
  name: string = "";
  id: i32 = -1;
  offset: i32 = 0;
  /** Array: element patterns. */
  elems: Array<JqPattern> = new Array<JqPattern>();
  /** Object: key expressions (evaluated against the value being matched). */
  keys: Array<JqNode> = new Array<JqNode>();
  /** Object: the `$name` bound to the whole entry, or null. */
  keyVars: Array<JqPattern | null> = new Array<JqPattern | null>();
  /** Object: the sub-pattern for the entry, or null. */
  subs: Array<JqPattern | null> = new Array<JqPattern | null>();

  constructor(kind: i32) {
    this.kind = kind;
  }
}

/** A function definition (`def name(params): body;`). */
export class JqFunc {
  name: string;
  params: Array<string> = new Array<string>();
  /** Whether each parameter was written `$name` (a value parameter). */
  paramIsVar: Array<bool> = new Array<bool>();
  /** Binding ids of the parameters as filters. */
  paramIds: Array<i32> = new Array<i32>();
  /** Binding ids of the `$name` variables of value parameters (-1 for filter parameters). */
  paramVarIds: Array<i32> = new Array<i32>();
  body: JqNode | null = null;
  /** Binding id of the definition itself (local definitions). */
  id: i32 = -1;
  /** True for definitions of the built-in prelude (no captured environment). */
  global: bool = false;
  /** Whether a call can be evaluated directly (see `jq_analyze.ts`). */
  one: bool = true;
  offset: i32 = 0;

  constructor(name: string) {
    this.name = name;
  }
}

/** One syntax tree node; see {@link Op} for which fields each kind uses. */
export class JqNode {
  op: i32;
  offset: i32;
  a: JqNode | null = null;
  b: JqNode | null = null;
  c: JqNode | null = null;
  d: JqNode | null = null;
  list: Array<JqNode | null> | null = null;
  str: string = "";
  value: JsonValue | null = null;
  num: i32 = 0;
  flags: i32 = 0;
  opt: bool = false;
  id: i32 = -1;
  pattern: JqPattern | null = null;
  func: JqFunc | null = null;
  builtin: i32 = -1;
  /**
   * At most one output and no `try`/`label` active when it is emitted: the
   * evaluator may compute it directly instead of through continuations.
   */
  one: bool = false;

  constructor(op: i32, offset: i32) {
    this.op = op;
    this.offset = offset;
  }
}
