/// <reference path="../portable.d.ts" />
/**
 * Tokenizer for jq 1.6 filter text. String literals become a token sequence
 * (start, text parts, interpolations holding their own tokens, end), so the
 * parser never re-scans text.
 */
import { JQ_SYNTAX, JqError } from "./jq_error.ts";

/** Token kinds. */
export enum Tok {
  Eof = 0,
  Ident,
  Field,
  Number,
  Format,
  Dollar,
  StrStart,
  StrText,
  InterpStart,
  InterpEnd,
  StrEnd,
  Dot,
  DotDot,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
  LParen,
  RParen,
  Pipe,
  Comma,
  Colon,
  Semi,
  Question,
  Assign,
  EqEq,
  NotEq,
  Less,
  LessEq,
  Greater,
  GreaterEq,
  Plus,
  Minus,
  Star,
  Slash,
  Percent,
  Alt,
  SetPipe,
  SetPlus,
  SetMinus,
  SetStar,
  SetSlash,
  SetPercent,
  SetAlt,
  AltDestructure,
}

/** One token: kind, UTF-16 range in the source, text (names, decoded string parts), number. */
export class Token {
  kind: i32;
  start: i32;
  end: i32;
  text: string;
  num: f64;

  constructor(kind: i32, start: i32, end: i32, text: string, num: f64) {
    this.kind = kind;
    this.start = start;
    this.end = end;
    this.text = text;
    this.num = num;
  }
}

/** Tokens, or the first lexical error. */
export class LexResult {
  tokens: Array<Token>;
  error: JqError | null;

  constructor(tokens: Array<Token>, error: JqError | null) {
    this.tokens = tokens;
    this.error = error;
  }
}

/**
 * Splits jq filter text into tokens (the last one is `Tok.Eof`).
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { lexJq, Tok } from "./jq_lexer.ts";
 * const r = lexJq('.a | "x\\(1)"');
 * console.assert(r.error === null && r.tokens[0].kind === Tok.Field && r.tokens[0].text === "a");
 * ```
 */
export function lexJq(source: string): LexResult {
  const lexer = new Lexer(source);
  lexer.run(false);
  if (lexer.error == null) lexer.push(Tok.Eof, source.length, source.length, "", 0);
  return new LexResult(lexer.tokens, lexer.error);
}

function isIdentStart(c: i32): bool {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c == 0x5f;
}

function isIdentChar(c: i32): bool {
  return isIdentStart(c) || isDigit(c);
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

class Lexer {
  src: string;
  pos: i32 = 0;
  tokens: Array<Token> = new Array<Token>();
  error: JqError | null = null;

  constructor(src: string) {
    this.src = src;
  }

  push(kind: i32, start: i32, end: i32, text: string, num: f64): void {
    this.tokens.push(new Token(kind, start, end, text, num));
  }

  fail(message: string, offset: i32): void {
    if (this.error == null) this.error = new JqError(JQ_SYNTAX, message, offset);
  }

  peek(offset: i32): i32 {
    const i = this.pos + offset;
    return i < this.src.length ? this.src.charCodeAt(i) : -1;
  }

  /**
   * Lexes tokens until the end of input, or (inside a string interpolation)
   * until the `)` that closes it.
   */
  run(inInterp: bool): void {
    const src = this.src;
    const n = src.length;
    let depth = 0;
    while (this.error == null) {
      // Whitespace and comments.
      while (this.pos < n) {
        const c = src.charCodeAt(this.pos);
        if (c == 0x20 || c == 0x0a || c == 0x09 || c == 0x0d) {
          this.pos++;
        } else if (c == 0x23) {
          while (this.pos < n && src.charCodeAt(this.pos) != 0x0a) this.pos++;
        } else {
          break;
        }
      }
      if (this.pos >= n) {
        if (inInterp) this.fail("unterminated string interpolation", this.pos);
        return;
      }
      const start = this.pos;
      const c = src.charCodeAt(start);
      if (c == 0x22) {
        this.lexString();
        continue;
      }
      if (isIdentStart(c)) {
        this.lexIdent();
        continue;
      }
      if (isDigit(c) || (c == 0x2e && isDigit(this.peek(1)))) {
        this.lexNumber();
        continue;
      }
      if (c == 0x2e) {
        if (isIdentStart(this.peek(1))) {
          let p = start + 1;
          while (p < n && isIdentChar(src.charCodeAt(p))) p++;
          this.push(Tok.Field, start, p, src.substring(start + 1, p), 0);
          this.pos = p;
        } else if (this.peek(1) == 0x2e) {
          this.push(Tok.DotDot, start, start + 2, "", 0);
          this.pos += 2;
        } else {
          this.push(Tok.Dot, start, start + 1, "", 0);
          this.pos++;
        }
        continue;
      }
      if (c == 0x40) {
        let p = start + 1;
        while (p < n && isIdentChar(src.charCodeAt(p))) p++;
        if (p == start + 1) {
          this.fail("syntax error, unexpected INVALID_CHARACTER '@'", start);
          return;
        }
        this.push(Tok.Format, start, p, src.substring(start + 1, p), 0);
        this.pos = p;
        continue;
      }
      if (c == 0x28) {
        depth++;
      } else if (c == 0x29) {
        if (inInterp && depth == 0) {
          this.push(Tok.InterpEnd, start, start + 1, "", 0);
          this.pos++;
          return;
        }
        depth--;
      }
      const kind = this.operator(c);
      if (kind < 0) {
        this.fail("syntax error, unexpected INVALID_CHARACTER", start);
        return;
      }
    }
  }

  /** Lexes one operator or punctuation token starting with `c`; -1 if `c` starts none. */
  operator(c: i32): i32 {
    const start = this.pos;
    const c1 = this.peek(1);
    const c2 = this.peek(2);
    let kind = -1;
    let len = 1;
    switch (c) {
      case 0x5b:
        kind = Tok.LBracket;
        break;
      case 0x5d:
        kind = Tok.RBracket;
        break;
      case 0x7b:
        kind = Tok.LBrace;
        break;
      case 0x7d:
        kind = Tok.RBrace;
        break;
      case 0x28:
        kind = Tok.LParen;
        break;
      case 0x29:
        kind = Tok.RParen;
        break;
      case 0x7c:
        if (c1 == 0x3d) {
          kind = Tok.SetPipe;
          len = 2;
        } else {
          kind = Tok.Pipe;
        }
        break;
      case 0x2c:
        kind = Tok.Comma;
        break;
      case 0x3a:
        kind = Tok.Colon;
        break;
      case 0x3b:
        kind = Tok.Semi;
        break;
      case 0x24:
        kind = Tok.Dollar;
        break;
      case 0x3f:
        if (c1 == 0x2f && c2 == 0x2f) {
          kind = Tok.AltDestructure;
          len = 3;
        } else {
          kind = Tok.Question;
        }
        break;
      case 0x3d:
        if (c1 == 0x3d) {
          kind = Tok.EqEq;
          len = 2;
        } else {
          kind = Tok.Assign;
        }
        break;
      case 0x21:
        if (c1 == 0x3d) {
          kind = Tok.NotEq;
          len = 2;
        }
        break;
      case 0x3c:
        if (c1 == 0x3d) {
          kind = Tok.LessEq;
          len = 2;
        } else {
          kind = Tok.Less;
        }
        break;
      case 0x3e:
        if (c1 == 0x3d) {
          kind = Tok.GreaterEq;
          len = 2;
        } else {
          kind = Tok.Greater;
        }
        break;
      case 0x2b:
        if (c1 == 0x3d) {
          kind = Tok.SetPlus;
          len = 2;
        } else {
          kind = Tok.Plus;
        }
        break;
      case 0x2d:
        if (c1 == 0x3d) {
          kind = Tok.SetMinus;
          len = 2;
        } else {
          kind = Tok.Minus;
        }
        break;
      case 0x2a:
        if (c1 == 0x3d) {
          kind = Tok.SetStar;
          len = 2;
        } else {
          kind = Tok.Star;
        }
        break;
      case 0x25:
        if (c1 == 0x3d) {
          kind = Tok.SetPercent;
          len = 2;
        } else {
          kind = Tok.Percent;
        }
        break;
      case 0x2f:
        if (c1 == 0x2f) {
          if (c2 == 0x3d) {
            kind = Tok.SetAlt;
            len = 3;
          } else {
            kind = Tok.Alt;
            len = 2;
          }
        } else if (c1 == 0x3d) {
          kind = Tok.SetSlash;
          len = 2;
        } else {
          kind = Tok.Slash;
        }
        break;
      default:
        kind = -1;
    }
    if (kind >= 0) {
      this.push(kind, start, start + len, "", 0);
      this.pos += len;
    }
    return kind;
  }

  lexIdent(): void {
    const src = this.src;
    const n = src.length;
    const start = this.pos;
    let p = start;
    while (p < n && isIdentChar(src.charCodeAt(p))) p++;
    // Module-qualified names (`mod::name`) lex as one identifier, as in jq.
    while (
      p + 2 < n && src.charCodeAt(p) == 0x3a && src.charCodeAt(p + 1) == 0x3a &&
      isIdentStart(src.charCodeAt(p + 2))
    ) {
      p += 2;
      while (p < n && isIdentChar(src.charCodeAt(p))) p++;
    }
    this.push(Tok.Ident, start, p, src.substring(start, p), 0);
    this.pos = p;
  }

  lexNumber(): void {
    const src = this.src;
    const n = src.length;
    const start = this.pos;
    let p = start;
    const intStart = p;
    while (p < n && isDigit(src.charCodeAt(p))) p++;
    const intEnd = p;
    let fracStart = p;
    let fracEnd = p;
    if (p < n && src.charCodeAt(p) == 0x2e) {
      p++;
      fracStart = p;
      while (p < n && isDigit(src.charCodeAt(p))) p++;
      fracEnd = p;
    }
    let expText = "";
    if (p < n && (src.charCodeAt(p) == 0x65 || src.charCodeAt(p) == 0x45)) {
      let q = p + 1;
      if (q < n && (src.charCodeAt(q) == 0x2b || src.charCodeAt(q) == 0x2d)) q++;
      const digits = q;
      while (q < n && isDigit(src.charCodeAt(q))) q++;
      if (q > digits) {
        expText = "e" + src.substring(p + 1, q);
        p = q;
      }
    }
    // Rewrite to the JSON number grammar ("1." → "1", ".5" → "0.5", "007" → "7").
    let intText = src.substring(intStart, intEnd);
    let z = 0;
    while (z < intText.length - 1 && intText.charCodeAt(z) == 0x30) z++;
    intText = intText.substring(z);
    if (intText.length == 0) intText = "0";
    const frac = src.substring(fracStart, fracEnd);
    const text = intText + (frac.length > 0 ? "." + frac : "") + expText;
    this.push(Tok.Number, start, p, text, parseF64(text));
    this.pos = p;
  }

  /** Lexes a string literal: StrStart, (StrText | InterpStart … InterpEnd)*, StrEnd. */
  lexString(): void {
    const src = this.src;
    const n = src.length;
    const start = this.pos;
    this.push(Tok.StrStart, start, start + 1, "", 0);
    this.pos++;
    const parts = new Array<string>();
    let partStart = this.pos;
    while (this.error == null) {
      if (this.pos >= n) {
        this.fail("unterminated string literal", start);
        return;
      }
      const c = src.charCodeAt(this.pos);
      if (c == 0x22) {
        this.flushText(parts, partStart);
        this.push(Tok.StrEnd, this.pos, this.pos + 1, "", 0);
        this.pos++;
        return;
      }
      if (c != 0x5c) {
        let p = this.pos + 1;
        while (p < n) {
          const d = src.charCodeAt(p);
          if (d == 0x22 || d == 0x5c) break;
          p++;
        }
        parts.push(src.substring(this.pos, p));
        this.pos = p;
        continue;
      }
      const e = this.peek(1);
      if (e == 0x28) {
        this.flushText(parts, partStart);
        this.push(Tok.InterpStart, this.pos, this.pos + 2, "", 0);
        this.pos += 2;
        this.run(true);
        partStart = this.pos;
        continue;
      }
      this.pos += 2;
      switch (e) {
        case 0x22:
          parts.push('"');
          break;
        case 0x5c:
          parts.push("\\");
          break;
        case 0x2f:
          parts.push("/");
          break;
        case 0x62:
          parts.push("\b");
          break;
        case 0x66:
          parts.push("\f");
          break;
        case 0x6e:
          parts.push("\n");
          break;
        case 0x72:
          parts.push("\r");
          break;
        case 0x74:
          parts.push("\t");
          break;
        case 0x75: {
          const cp = this.hex4(this.pos);
          if (cp < 0) {
            this.fail("Invalid escape in string literal: \\u needs four hex digits", this.pos - 2);
            return;
          }
          this.pos += 4;
          if (cp >= 0xd800 && cp <= 0xdbff) {
            const low = this.peek(0) == 0x5c && this.peek(1) == 0x75 ? this.hex4(this.pos + 2) : -1;
            if (low < 0xdc00 || low > 0xdfff) {
              this.fail("Invalid \\uXXXX\\uXXXX surrogate pair escape", this.pos - 6);
              return;
            }
            this.pos += 6;
            parts.push(String.fromCharCode(cp) + String.fromCharCode(low));
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            // jq encodes a lone low surrogate as invalid UTF-8, then replaces it.
            parts.push("\ufffd");
          } else {
            parts.push(String.fromCharCode(cp));
          }
          break;
        }
        default:
          this.fail("Invalid escape in string literal", this.pos - 2);
          return;
      }
    }
  }

  flushText(parts: Array<string>, partStart: i32): void {
    if (parts.length == 0) return;
    this.push(Tok.StrText, partStart, this.pos, parts.join(""), 0);
    parts.length = 0;
  }

  hex4(at: i32): i32 {
    if (at + 4 > this.src.length) return -1;
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const h = hexValue(this.src.charCodeAt(at + i));
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    return v;
  }
}
