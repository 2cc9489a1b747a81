/// <reference path="../portable.d.ts" />
/**
 * Recursive-descent parser for jq 1.6 filters, with jq 1.6's operator
 * precedences and its few compile-time quirks (constant folding of number
 * arithmetic, so `1 / 0` fails to compile and `0 / 0` is `null`; constant
 * objects with non-string keys fail to compile).
 */
import { JsonValue, Kind } from "../json_value.ts";
import { AssignOp, BinOp, JqFunc, JqNode, JqPattern, Op, PatKind, TEXT_PART } from "./jq_ast.ts";
import { JQ_SYNTAX, JQ_UNSUPPORTED, JqError } from "./jq_error.ts";
import { lexJq, Tok, Token } from "./jq_lexer.ts";
import { typeErrorText } from "./jq_messages.ts";

/** The tree, or the first error. */
export class ParseResult {
  node: JqNode | null;
  error: JqError | null;

  constructor(node: JqNode | null, error: JqError | null) {
    this.node = node;
    this.error = error;
  }
}

/**
 * Parses jq filter text into an unresolved syntax tree.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { parseJq } from "./jq_parser.ts";
 * import { Op } from "./jq_ast.ts";
 * const r = parseJq(".a | .b");
 * console.assert(r.error === null && r.node!.op === Op.Pipe);
 * ```
 */
export function parseJq(source: string): ParseResult {
  const lexed = lexJq(source);
  if (lexed.error != null) return new ParseResult(null, lexed.error);
  const parser = new Parser(source, lexed.tokens);
  const node = parser.parseExp(1);
  if (parser.error == null && parser.tok().kind != Tok.Eof) parser.unexpected();
  if (parser.error != null) return new ParseResult(null, parser.error);
  return new ParseResult(node, null);
}

const KEYWORDS =
  " as def if then elif else end reduce foreach try catch label import include module and or __loc__ break ";

/** Whether `name` is a jq 1.6 keyword (not usable as a function or variable name). */
export function isKeyword(name: string): bool {
  return name.indexOf(" ") < 0 && KEYWORDS.indexOf(" " + name + " ") >= 0;
}

// Binding powers (jq 1.6's %left/%right/%nonassoc order; `try` binds tighter than postfix `?`).
const BP_PIPE: i32 = 1;
const BP_COMMA: i32 = 2;
const BP_ALT: i32 = 3;
const BP_ASSIGN: i32 = 4;
const BP_OR: i32 = 5;
const BP_AND: i32 = 6;
const BP_COMPARE: i32 = 7;
const BP_ADD: i32 = 8;
const BP_MUL: i32 = 9;
const BP_POSTFIX: i32 = 10;
const BP_CATCH: i32 = 12;

class Parser {
  src: string;
  toks: Array<Token>;
  i: i32 = 0;
  error: JqError | null = null;
  depth: i32 = 0;

  constructor(src: string, toks: Array<Token>) {
    this.src = src;
    this.toks = toks;
  }

  tok(): Token {
    return this.toks[this.i];
  }

  next(): Token {
    const t = this.toks[this.i];
    if (t.kind != Tok.Eof) this.i++;
    return t;
  }

  isIdent(text: string): bool {
    const t = this.tok();
    return t.kind == Tok.Ident && t.text == text;
  }

  fail(message: string, offset: i32): void {
    if (this.error == null) this.error = new JqError(JQ_SYNTAX, message, offset);
  }

  unsupported(message: string, offset: i32): void {
    if (this.error == null) this.error = new JqError(JQ_UNSUPPORTED, message, offset);
  }

  unexpected(): void {
    const t = this.tok();
    if (t.kind == Tok.Eof) {
      this.fail("syntax error, unexpected end of filter", t.start);
    } else {
      this.fail(
        "syntax error, unexpected " + quoteToken(this.src.substring(t.start, t.end)),
        t.start,
      );
    }
  }

  expect(kind: i32): bool {
    if (this.error != null) return false;
    if (this.tok().kind != kind) {
      this.unexpected();
      return false;
    }
    this.next();
    return true;
  }

  expectIdent(text: string): bool {
    if (this.error != null) return false;
    if (!this.isIdent(text)) {
      this.unexpected();
      return false;
    }
    this.next();
    return true;
  }

  /** An expression whose binary operators all bind at least as tightly as `minBp`. */
  parseExp(minBp: i32): JqNode {
    if (++this.depth > 1000) {
      this.fail("syntax error, filter nested too deeply", this.tok().start);
    }
    let lhs = this.parsePrefix();
    while (this.error == null) {
      const t = this.tok();
      const kind = t.kind;
      if (kind == Tok.Question) {
        if (BP_POSTFIX < minBp) break;
        this.next();
        const n = new JqNode(Op.Try, t.start);
        n.a = lhs;
        lhs = n;
        continue;
      }
      const bp = binaryPower(t);
      if (bp < 0 || bp < minBp) break;
      this.next();
      if (bp == BP_PIPE) {
        lhs = binary(Op.Pipe, lhs, this.parseExp(BP_PIPE), t.start);
      } else if (bp == BP_COMMA) {
        lhs = binary(Op.Comma, lhs, this.parseExp(BP_COMMA + 1), t.start);
      } else if (bp == BP_ALT) {
        lhs = binary(Op.Alt, lhs, this.parseExp(BP_ALT), t.start);
      } else if (bp == BP_ASSIGN) {
        const n = binary(Op.Assign, lhs, this.parseExp(BP_ASSIGN + 1), t.start);
        setAssignOp(n, kind);
        if (binaryPower(this.tok()) == BP_ASSIGN) this.unexpected();
        lhs = n;
      } else if (bp == BP_OR) {
        lhs = binary(Op.Or, lhs, this.parseExp(BP_OR + 1), t.start);
      } else if (bp == BP_AND) {
        lhs = binary(Op.And, lhs, this.parseExp(BP_AND + 1), t.start);
      } else {
        const rhs = this.parseExp(bp + 1);
        if (bp == BP_COMPARE && binaryPower(this.tok()) == BP_COMPARE) this.unexpected();
        lhs = this.arith(binOpOf(kind), lhs, rhs, t.start);
      }
    }
    this.depth--;
    return lhs;
  }

  /** A binary arithmetic/comparison node, folded like jq 1.6 when both sides are number constants. */
  arith(op: i32, lhs: JqNode, rhs: JqNode, offset: i32): JqNode {
    const n = binary(Op.Binary, lhs, rhs, offset);
    n.num = op;
    if (
      lhs.op == Op.Literal && rhs.op == Op.Literal && lhs.value!.kind == Kind.Number &&
      rhs.value!.kind == Kind.Number && op <= BinOp.Div
    ) {
      const x = lhs.value!.num;
      const y = rhs.value!.num;
      let r: f64 = 0;
      if (op == BinOp.Add) r = x + y;
      else if (op == BinOp.Sub) r = x - y;
      else if (op == BinOp.Mul) r = x * y;
      else r = x / y;
      if (op == BinOp.Div && (r == Infinity || r == -Infinity)) {
        this.fail("Division by zero?", offset);
      }
      return literal(JsonValue.number(r), offset);
    }
    return n;
  }

  parsePrefix(): JqNode {
    const t = this.tok();
    if (this.error != null) return new JqNode(Op.Identity, t.start);
    if (t.kind == Tok.Minus) {
      this.next();
      const n = new JqNode(Op.Neg, t.start);
      n.a = this.parseExp(BP_MUL);
      return n;
    }
    if (t.kind == Tok.Ident) {
      const word = t.text;
      if (word == "if") return this.parseIf();
      if (word == "try") {
        this.next();
        const n = new JqNode(Op.Try, t.start);
        n.a = this.parseExp(BP_CATCH);
        if (this.isIdent("catch")) {
          this.next();
          n.b = this.parseExp(BP_CATCH + 1);
        }
        return n;
      }
      if (word == "reduce" || word == "foreach") return this.parseReduce(word == "foreach");
      if (word == "def") {
        const n = new JqNode(Op.FuncDef, t.start);
        n.func = this.parseFuncDef();
        n.a = this.parseExp(BP_PIPE);
        return n;
      }
      if (word == "label") {
        this.next();
        const n = new JqNode(Op.Label, t.start);
        this.expect(Tok.Dollar);
        const name = this.tok();
        if (name.kind != Tok.Ident || isKeyword(name.text)) {
          this.unexpected();
          return n;
        }
        this.next();
        n.str = name.text;
        this.expect(Tok.Pipe);
        n.a = this.parseExp(BP_PIPE);
        return n;
      }
      if (word == "import" || word == "include" || word == "module") {
        this.unsupported('unsupported: modules ("' + word + '")', t.start);
        return new JqNode(Op.Identity, t.start);
      }
    }
    return this.parseTerm(true);
  }

  parseIf(): JqNode {
    const t = this.next();
    const n = new JqNode(Op.If, t.start);
    n.a = this.parseExp(1);
    this.expectIdent("then");
    n.b = this.parseExp(1);
    if (this.isIdent("elif")) {
      n.c = this.parseIf();
      return n;
    }
    if (this.error == null && !this.isIdent("else")) {
      // jq 1.6 requires an else branch.
      this.fail("syntax error, if without else (jq 1.6 requires else)", this.tok().start);
      return n;
    }
    this.expectIdent("else");
    n.c = this.parseExp(1);
    this.expectIdent("end");
    return n;
  }

  parseReduce(isForeach: bool): JqNode {
    const t = this.next();
    const n = new JqNode(isForeach ? Op.Foreach : Op.Reduce, t.start);
    n.a = this.parseTerm(false);
    this.expectIdent("as");
    n.pattern = this.parsePatterns();
    this.expect(Tok.LParen);
    n.b = this.parseExp(1);
    this.expect(Tok.Semi);
    n.c = this.parseExp(1);
    if (isForeach && this.tok().kind == Tok.Semi) {
      this.next();
      n.d = this.parseExp(1);
    }
    this.expect(Tok.RParen);
    return n;
  }

  parseFuncDef(): JqFunc {
    const t = this.next(); // def
    const nameTok = this.tok();
    const f = new JqFunc(nameTok.text);
    f.offset = t.start;
    if (nameTok.kind != Tok.Ident || isKeyword(nameTok.text)) {
      this.unexpected();
      return f;
    }
    this.next();
    if (this.tok().kind == Tok.LParen) {
      this.next();
      while (this.error == null) {
        let isVar = false;
        if (this.tok().kind == Tok.Dollar) {
          this.next();
          isVar = true;
        }
        const p = this.tok();
        if (p.kind != Tok.Ident || isKeyword(p.text)) {
          this.unexpected();
          return f;
        }
        this.next();
        f.params.push(p.text);
        f.paramIsVar.push(isVar);
        if (this.tok().kind == Tok.Semi) {
          this.next();
          continue;
        }
        this.expect(Tok.RParen);
        break;
      }
    }
    this.expect(Tok.Colon);
    f.body = this.parseExp(1);
    this.expect(Tok.Semi);
    return f;
  }

  /** A term: a primary followed by `.name`, `."s"`, `[…]` suffixes (and `as` when allowed). */
  parseTerm(allowAs: bool): JqNode {
    let term = this.parsePrimary();
    while (this.error == null) {
      const t = this.tok();
      if (t.kind == Tok.Field) {
        this.next();
        term = this.field(term, t.text, t.start);
        continue;
      }
      if (t.kind == Tok.Dot && this.toks[this.i + 1].kind == Tok.StrStart) {
        this.next();
        term = this.stringIndex(term, this.parseString(""), t.start);
        continue;
      }
      if (t.kind == Tok.LBracket) {
        this.next();
        term = this.parseBracketSuffix(term, t.start);
        continue;
      }
      if (allowAs && t.kind == Tok.Ident && t.text == "as") {
        this.next();
        const n = new JqNode(Op.Bind, t.start);
        n.a = term;
        n.pattern = this.parsePatterns();
        this.expect(Tok.Pipe);
        n.b = this.parseExp(BP_PIPE);
        return n;
      }
      break;
    }
    return term;
  }

  field(term: JqNode, name: string, offset: i32): JqNode {
    const n = new JqNode(Op.Field, offset);
    n.a = term;
    n.str = name;
    n.opt = this.optional();
    return n;
  }

  stringIndex(term: JqNode, key: JqNode, offset: i32): JqNode {
    if (key.op == Op.Literal) return this.field(term, key.value!.str, offset);
    const n = new JqNode(Op.Index, offset);
    n.a = term;
    n.b = key;
    n.opt = this.optional();
    return n;
  }

  optional(): bool {
    if (this.tok().kind == Tok.Question) {
      this.next();
      return true;
    }
    return false;
  }

  parseBracketSuffix(term: JqNode, offset: i32): JqNode {
    if (this.tok().kind == Tok.RBracket) {
      this.next();
      const n = new JqNode(Op.Iterate, offset);
      n.a = term;
      n.opt = this.optional();
      return n;
    }
    if (this.tok().kind == Tok.Colon) {
      this.next();
      const n = new JqNode(Op.Slice, offset);
      n.a = term;
      n.c = this.parseExp(1);
      this.expect(Tok.RBracket);
      n.opt = this.optional();
      return n;
    }
    const first = this.parseExp(1);
    if (this.tok().kind == Tok.Colon) {
      this.next();
      const n = new JqNode(Op.Slice, offset);
      n.a = term;
      n.b = first;
      if (this.tok().kind != Tok.RBracket) n.c = this.parseExp(1);
      this.expect(Tok.RBracket);
      n.opt = this.optional();
      return n;
    }
    this.expect(Tok.RBracket);
    const n = new JqNode(Op.Index, offset);
    n.a = term;
    n.b = first;
    n.opt = this.optional();
    return n;
  }

  parsePrimary(): JqNode {
    const t = this.tok();
    if (this.error != null) return new JqNode(Op.Identity, t.start);
    switch (t.kind) {
      case Tok.Dot: {
        this.next();
        if (this.tok().kind == Tok.StrStart) {
          return this.stringIndex(new JqNode(Op.Identity, t.start), this.parseString(""), t.start);
        }
        return new JqNode(Op.Identity, t.start);
      }
      case Tok.DotDot:
        this.next();
        return new JqNode(Op.RecurseAll, t.start);
      case Tok.Field:
        this.next();
        return this.field(new JqNode(Op.Identity, t.start), t.text, t.start);
      case Tok.Number:
        this.next();
        return literal(JsonValue.number(t.num), t.start);
      case Tok.StrStart:
        return this.parseString("");
      case Tok.Format: {
        this.next();
        if (this.tok().kind == Tok.StrStart) return this.parseString(t.text);
        const n = new JqNode(Op.Format, t.start);
        n.str = t.text;
        return n;
      }
      case Tok.LParen: {
        this.next();
        const inner = this.parseExp(1);
        this.expect(Tok.RParen);
        return inner;
      }
      case Tok.LBracket: {
        this.next();
        const n = new JqNode(Op.Array, t.start);
        if (this.tok().kind == Tok.RBracket) {
          this.next();
          return literal(JsonValue.array(new Array<JsonValue>()), t.start);
        }
        n.a = this.parseExp(1);
        this.expect(Tok.RBracket);
        return foldArray(n);
      }
      case Tok.LBrace:
        return this.parseObject();
      case Tok.Dollar: {
        this.next();
        const name = this.tok();
        if (name.kind != Tok.Ident || (isKeyword(name.text) && name.text != "__loc__")) {
          this.unexpected();
          return new JqNode(Op.Identity, t.start);
        }
        this.next();
        if (name.text == "__loc__") return literal(this.locValue(t.start), t.start);
        const n = new JqNode(Op.Var, t.start);
        n.str = name.text;
        return n;
      }
      case Tok.Ident: {
        const word = t.text;
        if (word == "break") {
          this.next();
          const n = new JqNode(Op.Break, t.start);
          this.expect(Tok.Dollar);
          const name = this.tok();
          if (name.kind != Tok.Ident) {
            this.unexpected();
            return n;
          }
          this.next();
          n.str = name.text;
          return n;
        }
        if (isKeyword(word)) {
          this.unexpected();
          return new JqNode(Op.Identity, t.start);
        }
        this.next();
        if (word == "true") return literal(JsonValue.bool(true), t.start);
        if (word == "false") return literal(JsonValue.bool(false), t.start);
        if (word == "null") return literal(JsonValue.null(), t.start);
        const n = new JqNode(Op.Call, t.start);
        n.str = word;
        const args = new Array<JqNode | null>();
        if (this.tok().kind == Tok.LParen) {
          this.next();
          while (this.error == null) {
            args.push(this.parseExp(1));
            if (this.tok().kind == Tok.Semi) {
              this.next();
              continue;
            }
            this.expect(Tok.RParen);
            break;
          }
        }
        n.list = args;
        return n;
      }
      default:
        this.unexpected();
        return new JqNode(Op.Identity, t.start);
    }
  }

  locValue(offset: i32): JsonValue {
    let line = 1;
    for (let i = 0; i < offset; i++) {
      if (this.src.charCodeAt(i) == 0x0a) line++;
    }
    return JsonValue.object().set("file", JsonValue.string("<top-level>")).set(
      "line",
      JsonValue.number(f64(line)),
    );
  }

  /** A string literal at StrStart: a Literal, or an Interp node (`format` "" means text). */
  parseString(format: string): JqNode {
    const start = this.next(); // StrStart
    const parts = new Array<JqNode | null>();
    let constant = true;
    while (this.error == null) {
      const t = this.tok();
      if (t.kind == Tok.StrEnd) {
        this.next();
        break;
      }
      if (t.kind == Tok.StrText) {
        this.next();
        const text = literal(JsonValue.string(t.text), t.start);
        text.flags = TEXT_PART;
        parts.push(text);
        continue;
      }
      if (t.kind == Tok.InterpStart) {
        this.next();
        constant = false;
        parts.push(this.parseExp(1));
        this.expect(Tok.InterpEnd);
        continue;
      }
      this.unexpected();
      break;
    }
    if (constant) {
      const texts = new Array<string>();
      for (let i = 0; i < parts.length; i++) texts.push(parts[i]!.value!.str);
      return literal(JsonValue.string(texts.join("")), start.start);
    }
    const n = new JqNode(Op.Interp, start.start);
    n.list = parts;
    n.str = format.length > 0 ? format : "text";
    return n;
  }

  parseObject(): JqNode {
    const open = this.next();
    const n = new JqNode(Op.Object, open.start);
    const list = new Array<JqNode | null>();
    n.list = list;
    while (this.error == null && this.tok().kind != Tok.RBrace) {
      const t = this.tok();
      if (t.kind == Tok.Dollar) {
        this.next();
        const name = this.tok();
        if (name.kind != Tok.Ident || isKeyword(name.text)) {
          this.unexpected();
          return n;
        }
        this.next();
        list.push(literal(JsonValue.string(name.text), t.start));
        const v = new JqNode(Op.Var, t.start);
        v.str = name.text;
        list.push(v);
      } else if (t.kind == Tok.Ident) {
        this.next();
        list.push(literal(JsonValue.string(t.text), t.start));
        if (this.tok().kind == Tok.Colon) {
          this.next();
          list.push(this.parseObjectValue());
        } else if (isKeyword(t.text)) {
          this.unexpected();
          return n;
        } else {
          list.push(this.field(new JqNode(Op.Identity, t.start), t.text, t.start));
        }
      } else if (t.kind == Tok.StrStart || t.kind == Tok.Format) {
        let key: JqNode;
        if (t.kind == Tok.Format) {
          this.next();
          if (this.tok().kind != Tok.StrStart) {
            this.unexpected();
            return n;
          }
          key = this.parseString(t.text);
        } else {
          key = this.parseString("");
        }
        list.push(key);
        if (this.tok().kind == Tok.Colon) {
          this.next();
          list.push(this.parseObjectValue());
        } else {
          // `{"a"}` / `{"\(x)"}`: the value is `.[key]` of the computed key.
          list.push(null);
        }
      } else if (t.kind == Tok.LParen) {
        this.next();
        list.push(this.parseExp(1));
        this.expect(Tok.RParen);
        this.expect(Tok.Colon);
        list.push(this.parseObjectValue());
      } else {
        this.unexpected();
        return n;
      }
      if (this.tok().kind == Tok.Comma) {
        this.next();
        continue;
      }
      if (this.tok().kind != Tok.RBrace) {
        this.unexpected();
        return n;
      }
    }
    this.expect(Tok.RBrace);
    return this.foldObject(n);
  }

  /** jq 1.6's ExpD: `ExpD | ExpD`, `-ExpD`, or a term. */
  parseObjectValue(): JqNode {
    const t = this.tok();
    let v: JqNode;
    if (t.kind == Tok.Minus) {
      this.next();
      v = new JqNode(Op.Neg, t.start);
      v.a = this.parseObjectValue();
      return v;
    }
    v = this.parseTerm(false);
    if (this.tok().kind == Tok.Pipe) {
      const p = this.next();
      v = binary(Op.Pipe, v, this.parseObjectValue(), p.start);
    }
    return v;
  }

  /** Objects of constant keys and values become constants, as in jq 1.6 (bad keys fail to compile). */
  foldObject(n: JqNode): JqNode {
    const list = n.list!;
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      if (e == null || e.op != Op.Literal) return n;
    }
    const out = JsonValue.object();
    for (let i = 0; i < list.length; i += 2) {
      const k = list[i]!.value!;
      if (k.kind != Kind.String) {
        this.fail("Cannot use " + typeErrorText(k) + " as object key", n.offset);
        return n;
      }
      out.set(k.str, list[i + 1]!.value!);
    }
    return literal(out, n.offset);
  }

  parsePatterns(): JqPattern {
    const p = this.parsePattern();
    if (this.tok().kind == Tok.AltDestructure) {
      this.unsupported('unsupported: destructuring alternative "?//"', this.tok().start);
    }
    return p;
  }

  parsePattern(): JqPattern {
    const t = this.tok();
    if (t.kind == Tok.Dollar) {
      this.next();
      const p = new JqPattern(PatKind.Var);
      p.offset = t.start;
      const name = this.tok();
      if (name.kind != Tok.Ident || isKeyword(name.text)) {
        this.unexpected();
        return p;
      }
      this.next();
      p.name = name.text;
      return p;
    }
    if (t.kind == Tok.LBracket) {
      this.next();
      const p = new JqPattern(PatKind.Array);
      p.offset = t.start;
      while (this.error == null) {
        p.elems.push(this.parsePattern());
        if (this.tok().kind == Tok.Comma) {
          this.next();
          continue;
        }
        this.expect(Tok.RBracket);
        break;
      }
      return p;
    }
    if (t.kind == Tok.LBrace) {
      this.next();
      const p = new JqPattern(PatKind.Object);
      p.offset = t.start;
      while (this.error == null) {
        const e = this.tok();
        if (e.kind == Tok.Dollar) {
          this.next();
          const name = this.tok();
          if (name.kind != Tok.Ident || isKeyword(name.text)) {
            this.unexpected();
            return p;
          }
          this.next();
          const v = new JqPattern(PatKind.Var);
          v.name = name.text;
          v.offset = e.start;
          p.keys.push(literal(JsonValue.string(name.text), e.start));
          p.keyVars.push(v);
          if (this.tok().kind == Tok.Colon) {
            this.next();
            p.subs.push(this.parsePattern());
          } else {
            p.subs.push(null);
          }
        } else if (e.kind == Tok.Ident) {
          this.next();
          p.keys.push(literal(JsonValue.string(e.text), e.start));
          p.keyVars.push(null);
          this.expect(Tok.Colon);
          p.subs.push(this.parsePattern());
        } else if (e.kind == Tok.StrStart) {
          p.keys.push(this.parseString(""));
          p.keyVars.push(null);
          this.expect(Tok.Colon);
          p.subs.push(this.parsePattern());
        } else if (e.kind == Tok.LParen) {
          this.next();
          p.keys.push(this.parseExp(1));
          this.expect(Tok.RParen);
          p.keyVars.push(null);
          this.expect(Tok.Colon);
          p.subs.push(this.parsePattern());
        } else {
          this.unexpected();
          return p;
        }
        if (this.tok().kind == Tok.Comma) {
          this.next();
          continue;
        }
        this.expect(Tok.RBrace);
        break;
      }
      return p;
    }
    this.unexpected();
    return new JqPattern(PatKind.Var);
  }
}

function quoteToken(text: string): string {
  return "'" + text + "'";
}

function literal(value: JsonValue, offset: i32): JqNode {
  const n = new JqNode(Op.Literal, offset);
  n.value = value;
  return n;
}

function binary(op: i32, a: JqNode, b: JqNode, offset: i32): JqNode {
  const n = new JqNode(op, offset);
  n.a = a;
  n.b = b;
  return n;
}

/** `[c1, c2, …]` of constants becomes a constant array, as in jq 1.6. */
function foldArray(n: JqNode): JqNode {
  const items = new Array<JsonValue>();
  if (!collectConstants(n.a!, items)) return n;
  return literal(JsonValue.array(items), n.offset);
}

function collectConstants(node: JqNode, out: Array<JsonValue>): bool {
  if (node.op == Op.Literal) {
    out.push(node.value!);
    return true;
  }
  if (node.op == Op.Comma) return collectConstants(node.a!, out) && collectConstants(node.b!, out);
  return false;
}

function binaryPower(t: Token): i32 {
  switch (t.kind) {
    case Tok.Pipe:
      return BP_PIPE;
    case Tok.Comma:
      return BP_COMMA;
    case Tok.Alt:
      return BP_ALT;
    case Tok.Assign:
    case Tok.SetPipe:
    case Tok.SetPlus:
    case Tok.SetMinus:
    case Tok.SetStar:
    case Tok.SetSlash:
    case Tok.SetPercent:
    case Tok.SetAlt:
      return BP_ASSIGN;
    case Tok.EqEq:
    case Tok.NotEq:
    case Tok.Less:
    case Tok.LessEq:
    case Tok.Greater:
    case Tok.GreaterEq:
      return BP_COMPARE;
    case Tok.Plus:
    case Tok.Minus:
      return BP_ADD;
    case Tok.Star:
    case Tok.Slash:
    case Tok.Percent:
      return BP_MUL;
    case Tok.Ident:
      if (t.text == "or") return BP_OR;
      if (t.text == "and") return BP_AND;
      return -1;
    default:
      return -1;
  }
}

function binOpOf(kind: i32): i32 {
  switch (kind) {
    case Tok.Plus:
      return BinOp.Add;
    case Tok.Minus:
      return BinOp.Sub;
    case Tok.Star:
      return BinOp.Mul;
    case Tok.Slash:
      return BinOp.Div;
    case Tok.Percent:
      return BinOp.Mod;
    case Tok.EqEq:
      return BinOp.Eq;
    case Tok.NotEq:
      return BinOp.Ne;
    case Tok.Less:
      return BinOp.Lt;
    case Tok.LessEq:
      return BinOp.Le;
    case Tok.Greater:
      return BinOp.Gt;
    default:
      return BinOp.Ge;
  }
}

function setAssignOp(n: JqNode, kind: i32): void {
  switch (kind) {
    case Tok.Assign:
      n.num = AssignOp.Set;
      break;
    case Tok.SetPipe:
      n.num = AssignOp.Update;
      break;
    case Tok.SetAlt:
      n.num = AssignOp.Alt;
      break;
    case Tok.SetPlus:
      n.num = AssignOp.Arith;
      n.flags = BinOp.Add;
      break;
    case Tok.SetMinus:
      n.num = AssignOp.Arith;
      n.flags = BinOp.Sub;
      break;
    case Tok.SetStar:
      n.num = AssignOp.Arith;
      n.flags = BinOp.Mul;
      break;
    case Tok.SetSlash:
      n.num = AssignOp.Arith;
      n.flags = BinOp.Div;
      break;
    default:
      n.num = AssignOp.Arith;
      n.flags = BinOp.Mod;
  }
}
