/// <reference path="../portable.d.ts" />
/**
 * Compiles jq filter text: parses it, resolves every variable, function and
 * label to its binding, and refuses what this engine does not implement with
 * code "unsupported" (never a wrong answer).
 */
import { JsonValue } from "../json_value.ts";
import { analyze } from "./jq_analyze.ts";
import { JqFunc, JqNode, JqPattern, Op, PatKind } from "./jq_ast.ts";
import { B, findNative, isJq16Builtin } from "./jq_builtin_table.ts";
import { JQ_SYNTAX, JQ_UNSUPPORTED, JqError } from "./jq_error.ts";
import { parseJq } from "./jq_parser.ts";
import { JQ_PRELUDE, JQ_PRELUDE_KEYS } from "./jq_prelude.ts";

/** A compiled filter; run it with `runJq`. */
export class JqProgram {
  root: JqNode;
  /** Names of the `$variables` the filter reads from outside (see `runJq`). */
  globals: Array<string>;
  /** Binding ids of {@link globals}, in the same order. */
  globalIds: Array<i32>;

  constructor(root: JqNode, globals: Array<string>, globalIds: Array<i32>) {
    this.root = root;
    this.globals = globals;
    this.globalIds = globalIds;
  }
}

/** `program` or `error` (codes "syntax" and "unsupported"). */
export class JqCompileResult {
  program: JqProgram | null;
  error: JqError | null;

  constructor(program: JqProgram | null, error: JqError | null) {
    this.program = program;
    this.error = error;
  }
}

/**
 * Compiles a jq 1.6 filter. `varNames` lists the `$variables` the caller
 * will pass to `runJq`; any other free variable fails to compile. With
 * `varNames` null every free variable is accepted here and must be passed
 * at run time.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { compileJq } from "./compile_jq.ts";
 * console.assert(compileJq(".a | map(. + 1)").error === null);
 * console.assert(compileJq("input").error!.code === "unsupported");
 * console.assert(compileJq(".a |").error!.code === "syntax");
 * console.assert(compileJq("$context.id", ["context"]).error === null);
 * ```
 */
export function compileJq(source: string, varNames: Array<string> | null = null): JqCompileResult {
  const parsed = parseJq(source);
  if (parsed.error != null) return new JqCompileResult(null, parsed.error);
  const r = new Resolver(varNames);
  r.node(parsed.node!, null);
  if (r.error != null) return new JqCompileResult(null, r.error);
  analyze(parsed.node, r.funcs);
  return new JqCompileResult(new JqProgram(parsed.node!, r.globals, r.globalIds), null);
}

// Scope entry kinds.
const S_VAR: i32 = 0;
const S_FUNC: i32 = 1;
const S_PARAM: i32 = 2;
const S_LABEL: i32 = 3;

class Scope {
  parent: Scope | null;
  kind: i32;
  name: string;
  arity: i32;
  id: i32;
  func: JqFunc | null;

  constructor(parent: Scope | null, kind: i32, name: string, arity: i32, id: i32) {
    this.parent = parent;
    this.kind = kind;
    this.name = name;
    this.arity = arity;
    this.id = id;
    this.func = null;
  }
}

/** Binding ids are unique across compilations (the prelude is shared). */
let nextId: i32 = 1;

function freshId(): i32 {
  return nextId++;
}

/** Prelude definitions parsed and resolved so far. */
const prelude: Map<string, JqFunc> = new Map<string, JqFunc>();

/**
 * The prelude's definition of `name` with `arity` parameters: its text from
 * `def` up to the next top-level definition (each starts a line with
 * `def `), the last one when there are several; null when there is none.
 * Found by scanning the prelude in place, without splitting it or indexing
 * every definition: a fresh wasm instance per step would build that index
 * for every filter that calls a built-in.
 */
export function preludeSource(name: string, arity: i32): string | null {
  const text = JQ_PRELUDE;
  const n = text.length;
  let found: string | null = null;
  let at = text.startsWith("def ") ? 0 : text.indexOf("\ndef ") + 1;
  while (at > 0 || (at == 0 && text.startsWith("def "))) {
    const next = text.indexOf("\ndef ", at + 3);
    const end = next < 0 ? n : next;
    // "def name(a; b):" is name/2, "def name:" is name/0.
    let p = at + 4 + name.length;
    if (text.startsWith(name, at + 4) && p < end) {
      let c = text.charCodeAt(p);
      let defined = -1;
      if (c == 0x3a) defined = 0;
      else if (c == 0x28) {
        defined = 1;
        while (p < end && c != 0x29) {
          if (c == 0x3b) defined++;
          p++;
          c = text.charCodeAt(p);
        }
      }
      if (defined == arity) found = text.substring(at, end);
    }
    if (next < 0) break;
    at = next + 1;
  }
  return found;
}

/**
 * The jq-defined built-in `key` (`name/arity`), parsed, resolved and
 * analysed on first use (a fresh wasm instance per step pays only for what
 * its filter calls); null when there is none.
 */
function preludeFunc(name: string, arity: i32, key: string): JqFunc | null {
  if (prelude.has(key)) return prelude.get(key) as JqFunc;
  if (JQ_PRELUDE_KEYS.indexOf(" " + key + " ") < 0) return null;
  const found = preludeSource(name, arity);
  if (found == null) return null;
  const source = found;
  const end = source.lastIndexOf(";");
  const parsed = parseJq(source.substring(0, end + 1) + " .");
  if (parsed.error != null || parsed.node!.op != Op.FuncDef) return null;
  const f = parsed.node!.func!;
  f.global = true;
  // Registered before its body is resolved, so it can call itself.
  prelude.set(key, f);
  const r = new Resolver(new Array<string>());
  r.funcBody(f, null);
  if (r.error != null) {
    prelude.delete(key);
    return null;
  }
  const funcs = new Array<JqFunc>();
  funcs.push(f);
  for (let i = 0; i < r.funcs.length; i++) funcs.push(r.funcs[i]);
  analyze(null, funcs);
  return f;
}

class Resolver {
  varNames: Array<string> | null;
  globals: Array<string> = new Array<string>();
  globalIds: Array<i32> = new Array<i32>();
  /** Every local definition met (for the analysis). */
  funcs: Array<JqFunc> = new Array<JqFunc>();
  error: JqError | null = null;

  constructor(varNames: Array<string> | null) {
    this.varNames = varNames;
  }

  fail(code: string, message: string, offset: i32): void {
    if (this.error == null) this.error = new JqError(code, message, offset);
  }

  node(n: JqNode | null, scope: Scope | null): void {
    if (n == null || this.error != null) return;
    switch (n.op) {
      case Op.Field:
        n.value = JsonValue.string(n.str);
        this.node(n.a, scope);
        return;
      case Op.Var:
        this.variable(n, scope);
        return;
      case Op.RecurseAll:
        n.builtin = B.Recurse0;
        n.list = new Array<JqNode | null>();
        return;
      case Op.Call:
        this.call(n, scope);
        return;
      case Op.FuncDef: {
        const f = n.func!;
        f.id = freshId();
        this.funcs.push(f);
        const inner = new Scope(scope, S_FUNC, f.name, f.params.length, f.id);
        inner.func = f;
        this.funcBody(f, inner);
        this.node(n.a, inner);
        return;
      }
      case Op.Reduce:
      case Op.Foreach: {
        this.node(n.a, scope);
        this.node(n.b, scope);
        const inner = this.pattern(n.pattern!, scope);
        this.node(n.c, inner);
        this.node(n.d, inner);
        return;
      }
      case Op.Bind: {
        this.node(n.a, scope);
        const inner = this.pattern(n.pattern!, scope);
        this.node(n.b, inner);
        return;
      }
      case Op.Label: {
        n.id = freshId();
        this.node(n.a, new Scope(scope, S_LABEL, n.str, 0, n.id));
        return;
      }
      case Op.Break: {
        let s = scope;
        while (s != null) {
          if (s.kind == S_LABEL && s.name == n.str) {
            n.id = s.id;
            return;
          }
          s = s.parent;
        }
        this.fail(JQ_SYNTAX, "$*label-" + n.str + " is not defined", n.offset);
        return;
      }
      default: {
        this.node(n.a, scope);
        this.node(n.b, scope);
        this.node(n.c, scope);
        this.node(n.d, scope);
        const list = n.list;
        if (list != null) {
          for (let i = 0; i < list.length; i++) this.node(list[i], scope);
        }
      }
    }
  }

  /** Resolves a definition's body with its parameters in scope. */
  funcBody(f: JqFunc, scope: Scope | null): void {
    let s = scope;
    f.paramIds = new Array<i32>();
    f.paramVarIds = new Array<i32>();
    for (let i = 0; i < f.params.length; i++) {
      const id = freshId();
      f.paramIds.push(id);
      s = new Scope(s, S_PARAM, f.params[i], 0, id);
      if (f.paramIsVar[i]) {
        const varId = freshId();
        f.paramVarIds.push(varId);
        s = new Scope(s, S_VAR, f.params[i], 0, varId);
      } else {
        f.paramVarIds.push(-1);
      }
    }
    this.node(f.body, s);
  }

  /** Declares the variables of `pat` (left to right); returns the scope after them. */
  pattern(pat: JqPattern, scope: Scope | null): Scope | null {
    if (pat.kind == PatKind.Var) {
      pat.id = freshId();
      return new Scope(scope, S_VAR, pat.name, 0, pat.id);
    }
    let s = scope;
    if (pat.kind == PatKind.Array) {
      for (let i = 0; i < pat.elems.length; i++) s = this.pattern(pat.elems[i], s);
      return s;
    }
    for (let i = 0; i < pat.keys.length; i++) {
      this.node(pat.keys[i], s);
      const keyVar = pat.keyVars[i];
      if (keyVar != null) s = this.pattern(keyVar, s);
      const sub = pat.subs[i];
      if (sub != null) s = this.pattern(sub, s);
    }
    return s;
  }

  variable(n: JqNode, scope: Scope | null): void {
    let s = scope;
    while (s != null) {
      if (s.kind == S_VAR && s.name == n.str) {
        n.id = s.id;
        return;
      }
      s = s.parent;
    }
    if (n.str == "ENV") {
      this.fail(JQ_UNSUPPORTED, 'unsupported: "$ENV" (there is no environment)', n.offset);
      return;
    }
    for (let i = 0; i < this.globals.length; i++) {
      if (this.globals[i] == n.str) {
        n.id = this.globalIds[i];
        return;
      }
    }
    const names = this.varNames;
    let known = names == null;
    if (names != null) {
      for (let i = 0; i < names.length; i++) {
        if (names[i] == n.str) known = true;
      }
    }
    if (!known) {
      this.fail(JQ_SYNTAX, "$" + n.str + " is not defined", n.offset);
      return;
    }
    n.id = freshId();
    this.globals.push(n.str);
    this.globalIds.push(n.id);
  }

  call(n: JqNode, scope: Scope | null): void {
    const args = n.list!;
    const arity = args.length;
    const name = n.str;
    for (let i = 0; i < arity; i++) this.node(args[i], scope);
    if (this.error != null) return;
    let s = scope;
    while (s != null) {
      if (s.name == name) {
        if (s.kind == S_FUNC && s.arity == arity) {
          n.id = s.id;
          n.func = s.func;
          return;
        }
        if (s.kind == S_PARAM && arity == 0) {
          n.id = s.id;
          return;
        }
      }
      s = s.parent;
    }
    // Native built-ins first: most calls are to them, and no name is both
    // native and in the prelude (compile_jq_test.ts checks), so the order
    // does not change the result; this way a call to a native skips the
    // prelude's key list, which a fresh wasm instance searches cold.
    const id = findNative(name, arity);
    if (id >= 0) {
      n.builtin = id;
      return;
    }
    const key = name + "/" + arity.toString();
    const defined = preludeFunc(name, arity, key);
    if (defined != null) {
      n.func = defined;
      return;
    }
    if (isJq16Builtin(name, arity)) {
      this.fail(JQ_UNSUPPORTED, 'unsupported: builtin "' + key + '"', n.offset);
      return;
    }
    if (name.indexOf("::") >= 0) {
      this.fail(JQ_UNSUPPORTED, 'unsupported: modules ("' + name + '")', n.offset);
      return;
    }
    this.fail(JQ_SYNTAX, key + " is not defined", n.offset);
  }
}
