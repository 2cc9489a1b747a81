import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { lexJq, Tok } from "./jq_lexer.ts";

function kinds(source: string): number[] {
  const r = lexJq(source);
  assert.equal(r.error, null, `${source}: ${r.error?.message}`);
  return r.tokens.map((t) => t.kind);
}

Deno.test("lexJq() splits fields, operators and keywords like jq 1.6", () => {
  assert.deepEqual(kinds(".a.b // .c |= 1"), [
    Tok.Field,
    Tok.Field,
    Tok.Alt,
    Tok.Field,
    Tok.SetPipe,
    Tok.Number,
    Tok.Eof,
  ]);
  assert.deepEqual(kinds("..a"), [Tok.DotDot, Tok.Ident, Tok.Eof]);
  assert.deepEqual(kinds("...a"), [Tok.DotDot, Tok.Field, Tok.Eof]);
  assert.deepEqual(kinds("?// //= ?"), [Tok.AltDestructure, Tok.SetAlt, Tok.Question, Tok.Eof]);
  assert.deepEqual(kinds("$__loc__ @base64 mod::name"), [
    Tok.Dollar,
    Tok.Ident,
    Tok.Format,
    Tok.Ident,
    Tok.Eof,
  ]);
  assert.equal(lexJq("mod::name").tokens[0].text, "mod::name");
});

Deno.test("lexJq() reads numbers in jq's forms, including 1. and .5", () => {
  const r = lexJq("1. .5 007 1e3 1.e2 1e1000");
  assert.deepEqual(r.tokens.slice(0, 6).map((t) => t.num), [1, 0.5, 7, 1000, 100, Infinity]);
});

Deno.test("lexJq() decodes string escapes and nests interpolations", () => {
  const r = lexJq('"a\\u00e9\\n\\(1 + "\\(2)")b"');
  assert.equal(r.error, null);
  const k = r.tokens.map((t) => t.kind);
  assert.deepEqual(k, [
    Tok.StrStart,
    Tok.StrText,
    Tok.InterpStart,
    Tok.Number,
    Tok.Plus,
    Tok.StrStart,
    Tok.InterpStart,
    Tok.Number,
    Tok.InterpEnd,
    Tok.StrEnd,
    Tok.InterpEnd,
    Tok.StrText,
    Tok.StrEnd,
    Tok.Eof,
  ]);
  assert.equal(r.tokens[1].text, "a\u00e9\n");
  assert.equal(lexJq('"\\ud83d\\ude00"').tokens[1].text, "\u{1F600}");
  assert.equal(lexJq('"\\udc00"').tokens[1].text, "\ufffd");
});

Deno.test("lexJq() skips comments and whitespace", () => {
  assert.deepEqual(kinds("# comment\n.a # more\n"), [Tok.Field, Tok.Eof]);
});

Deno.test("lexJq() reports bad strings and characters with their offsets", () => {
  const cases: [string, number][] = [
    ['"abc', 0],
    ['"a\\x"', 2],
    ['"\\ud800"', 1],
    ['"\\u12"', 1],
    ['"\\(1"', 4],
    ["1 ^ 2", 2],
    ["@", 0],
  ];
  for (const [source, offset] of cases) {
    const r = lexJq(source);
    assert.equal(r.error?.code, "syntax", source);
    assert.equal(r.error?.offset, offset, source);
  }
});
