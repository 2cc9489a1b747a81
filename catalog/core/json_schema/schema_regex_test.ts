import assert from "node:assert/strict";
import "../../native/portable_runtime.ts";
import { compileRegex } from "./schema_regex.ts";

/** A small seeded PRNG (mulberry32) so failures reproduce. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    let t = (state = (state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)],
    chance: (p: number) => next() < p,
  };
}

function jsTest(source: string, text: string): boolean {
  return new RegExp(source, "u").test(text);
}

function sameAsJs(source: string, texts: string[]) {
  const compiled = compileRegex(source);
  assert.equal(compiled.error, null, `${source}: ${compiled.error}`);
  for (const text of texts) {
    assert.equal(
      compiled.regex!.test(text),
      jsTest(source, text),
      `/${source}/u.test(${JSON.stringify(text)})`,
    );
  }
}

Deno.test("compileRegex() matches like RegExp with the u flag on the patterns zod emits", () => {
  const email =
    "^(?:[A-Za-z0-9_'+\\-]+\\.)*[A-Za-z0-9_'+\\-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9\\-]*\\.)+[A-Za-z]{2,}$";
  sameAsJs(email, ["a@b.co", "first.last@sub.example.org", "a@b", "a..b@c.de", "@x.io", "é@x.io"]);
  const uuid =
    "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$";
  sameAsJs(uuid, [
    "2eb8aa08-aa98-11ea-b4aa-73b441d16380",
    "00000000-0000-0000-0000-000000000000",
    "2eb8aa08-aa98-91ea-b4aa-73b441d16380",
    "2eb8aa08aa9811eab4aa73b441d16380",
  ]);
  const datetime =
    "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$";
  sameAsJs(datetime, [
    "2024-02-29T10:00:00Z",
    "2023-02-29T10:00:00Z",
    "2024-01-31T23:59:59.5Z",
    "2024-01-31T24:00:00Z",
  ]);
});

Deno.test("compileRegex() handles escapes, classes, assertions and code points like RegExp", () => {
  sameAsJs("\\bfoo\\b", ["foo", "a foo b", "foobar", "_foo"]);
  sameAsJs("\\Bo\\B", ["foo", "o", "bob"]);
  sameAsJs("^.$", ["\u{1F600}", "ab", "\n", "\uD800"]);
  sameAsJs("^[\u{1F600}-\u{1F64F}]+$", ["\u{1F600}\u{1F64F}", "\u{1F650}", ""]);
  sameAsJs("^\\u{1F600}\\uD83D\\uDE00$", ["\u{1F600}\u{1F600}"]);
  sameAsJs("[\\d\\s-]", ["a", "-", " ", "\u3000", "9"]);
  sameAsJs("[^\\w]", ["abc", "ab c", "é"]);
  sameAsJs("^[\\b]$", ["\b", "b"]);
  sameAsJs("\\cJ\\x41\\0\\t", ["\nA\0\t", "nA0t"]);
  sameAsJs("^(?<year>\\d{4})-(?:\\d\\d)?$", ["2024-", "2024-01", "24-01"]);
  sameAsJs("a{2,3}?b*?c+?d??", ["aabcd", "aaacc", "abc"]);
  sameAsJs("(a|ab)(c|bcd)(d*)", ["abcd", "acd", "xyz"]);
  sameAsJs("^(a*)*$", ["aaaaaaaaaaaaaab", "aaaa", ""]);
  sameAsJs("\\B", ["9\u{1F600}_", "\u{1F600}"]);
  sameAsJs("^.\\B", ["\u{1F600}_"]);
  sameAsJs("[^]", ["", "x"]);
  sameAsJs("[]", ["", "x"]);
  sameAsJs("", ["", "x"]);
  sameAsJs("\\/\\.\\*\\$", ["/.*$"]);
});

Deno.test("compileRegex() refuses what RegExp with the u flag refuses", () => {
  for (
    const bad of [
      "(",
      ")",
      "a)",
      "[a",
      "*a",
      "a**",
      "a{2}{3}",
      "^*",
      "\\b+",
      "{",
      "}",
      "]",
      "a{1",
      "a{2,1}",
      "\\",
      "\\a",
      "\\-",
      "\\c1",
      "\\x1",
      "\\u12",
      "\\u{110000}",
      "[z-a]",
      "[\\d-z]",
      "[\\B]",
      "\\01",
      "(?<1a>x)",
      "(?<n>a)(?<n>b)",
      "(?x)",
      "\\1",
      "(a)\\2",
      "\\k<n>",
      "(?<n>a)\\k<m>",
    ]
  ) {
    assert.throws(() => new RegExp(bad, "u"), SyntaxError, `JS accepts ${bad}`);
    const r = compileRegex(bad);
    assert.notEqual(r.error, null, `${bad} should be refused`);
    assert.equal(r.unsupported, false, `${bad}: ${r.error}`);
  }
});

Deno.test("compileRegex() reports backreferences, lookaround and \\p as unsupported", () => {
  for (
    const source of [
      "(a)\\1",
      "(?<n>a)\\k<n>",
      "a(?=b)",
      "a(?!b)",
      "(?<=a)b",
      "(?<!a)b",
      "\\p{L}",
      "[\\P{L}]",
    ]
  ) {
    new RegExp(source, "u"); // valid ECMAScript
    const r = compileRegex(source);
    assert.equal(r.unsupported, true, source);
    assert.ok(r.error!.includes("not supported"), r.error!);
  }
  assert.equal(compileRegex("(?:a{1000}){100}").unsupported, true);
  assert.equal(compileRegex("a{1000000}").unsupported, true);
  // A syntax error after an unsupported construct is still a syntax error.
  const later = compileRegex("(?=a)(");
  assert.deepEqual([later.unsupported, later.error !== null], [false, true]);
});

Deno.test("compileRegex() agrees with RegExp on 3,000 generated patterns and 60,000 tests", () => {
  const r = random(0x7e9e);
  const atoms = [
    "a",
    "b",
    "c",
    "\\d",
    "\\w",
    "\\s",
    "\\D",
    ".",
    "[ab]",
    "[^a]",
    "[a-c\\d]",
    "é",
    "\u{1F600}",
    "\\.",
    "-",
    " ",
  ];
  const gen = (depth: number): string => {
    const parts: string[] = [];
    for (let n = r.int(1, 3); n > 0; n--) {
      let atom: string;
      const k = r.int(0, depth > 2 ? 5 : 9);
      if (k <= 5) atom = r.pick(atoms);
      else if (k <= 7) atom = `(${gen(depth + 1)}|${gen(depth + 1)})`;
      else if (k == 8) atom = `(?:${gen(depth + 1)})`;
      else atom = r.pick(["^", "$", "\\b", "\\B"]);
      const assertion = atom === "^" || atom === "$" || atom === "\\b" || atom === "\\B";
      if (!assertion && r.chance(0.4)) {
        atom += r.pick(["*", "+", "?", "{2}", "{1,3}", "{0,}", "*?", "+?", "{0,2}?"]);
      }
      parts.push(atom);
    }
    return parts.join("");
  };
  const alphabet = ["a", "b", "c", "1", "9", " ", "\n", "é", "\u{1F600}", ".", "-", "_", "\uD800"];
  let matches = 0;
  let tests = 0;
  for (let i = 0; i < 3000; i++) {
    const source = gen(0);
    const compiled = compileRegex(source);
    assert.equal(compiled.error, null, `${source}: ${compiled.error}`);
    const js = new RegExp(source, "u");
    for (let k = 0; k < 20; k++) {
      let text = "";
      for (let n = r.int(0, 8); n > 0; n--) text += r.pick(alphabet);
      const expected = js.test(text);
      assert.equal(
        compiled.regex!.test(text),
        expected,
        `/${source}/u.test(${JSON.stringify(text)})`,
      );
      if (expected) matches++;
      tests++;
    }
  }
  assert.ok(matches > tests / 5 && matches < (tests * 4) / 5, `${matches} of ${tests} match`);
});

Deno.test("compileRegex() agrees with RegExp on which random strings are patterns", () => {
  const r = random(0xbad5);
  const pieces = [
    "a",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "1",
    ",",
    "2",
    "*",
    "+",
    "?",
    "|",
    "^",
    "$",
    "\\",
    "-",
    "d",
    "u",
    "x",
    "b",
    "<",
    ">",
    "=",
    "!",
    ":",
  ];
  let accepted = 0;
  for (let i = 0; i < 20000; i++) {
    let source = "";
    for (let n = r.int(1, 8); n > 0; n--) source += r.pick(pieces);
    let jsOk = true;
    try {
      new RegExp(source, "u");
    } catch {
      jsOk = false;
    }
    const ours = compileRegex(source);
    if (!jsOk) {
      assert.notEqual(ours.error, null, `${source} is not a u-flag RegExp`);
      assert.equal(ours.unsupported, false, `${source}: ${ours.error}`);
      continue;
    }
    if (ours.unsupported) continue;
    assert.equal(ours.error, null, `${source}: ${ours.error}`);
    accepted++;
    for (const text of ["", "a", "ab1", "((a))", "a-b", "d{1,2}"]) {
      assert.equal(
        ours.regex!.test(text),
        new RegExp(source, "u").test(text),
        `/${source}/u on ${text}`,
      );
    }
  }
  assert.ok(accepted > 1000, `${accepted} valid patterns`);
});

Deno.test("SchemaRegex.test() stays linear on patterns that make backtracking engines explode", () => {
  const re = compileRegex("^(a+)+$").regex!;
  const text = "a".repeat(20000) + "b";
  assert.equal(re.test(text), false);
  assert.equal(compileRegex("(x+x+)+y").regex!.test("x".repeat(5000)), false);
});
