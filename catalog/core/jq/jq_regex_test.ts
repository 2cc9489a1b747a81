import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { toJs } from "../../native/js_bridge.ts";
import { JsonValue } from "../json_value.ts";
import { compileRegex } from "./jq_regex.ts";
import { matchImpl } from "./jq_regex_match.ts";
import { JqState } from "./jq_state.ts";

function match(input: string, re: string, flags: string | null = null) {
  const st = new JqState();
  const r = matchImpl(
    st,
    JsonValue.string(input),
    JsonValue.string(re),
    flags === null ? JsonValue.null() : JsonValue.string(flags),
    JsonValue.bool(false),
    0,
  );
  if (r === null) return { error: st.err!.str };
  return (toJs(r) as { offset: number; length: number; string: string }[]).map((m) => [
    m.offset,
    m.string,
  ]);
}

Deno.test("compileRegex() reports Oniguruma's messages for bad patterns", () => {
  const cases: [string, string][] = [
    ["(", "end pattern with unmatched parenthesis"],
    [")", "unmatched close parenthesis"],
    ["*", "target of repeat operator is not specified"],
    ["[a", "premature end of char-class"],
    ["\\", "end pattern at escape"],
    ["a{2,1}", "upper is smaller than lower in repeat range"],
    ["[b-a]", "empty range in char class"],
    ["\\1", "invalid backref number/name"],
    ["(?<=a*)b", "invalid pattern in look-behind"],
    ["\\p{Nope}", "invalid character property name {Nope}"],
  ];
  for (const [re, message] of cases) {
    assert.equal(compileRegex(re, false, false, false).error, message, re);
  }
});

Deno.test("matchImpl() finds leftmost-first matches with code point offsets", () => {
  assert.deepEqual(match("aé😀b", "b|😀", "g"), [[2, "😀"], [3, "b"]]);
  assert.deepEqual(match("ab", "a|ab"), [[0, "a"]]);
  assert.deepEqual(match("xaay", "a+?"), [[1, "a"]]);
  assert.deepEqual(match("foo bar", "\\b\\w"), [[0, "f"]]);
  assert.deepEqual(match("AbC", "[a-c]+", "i"), [[0, "AbC"]]);
  assert.deepEqual(match("a\nb", "^b"), []);
  assert.deepEqual(match("a\nb", "(?m)^b"), [[2, "b"]]);
  assert.deepEqual(match("aabab", "(?=b)", "g"), [[2, ""], [2, ""], [2, ""], [4, ""], [4, ""]]);
});

Deno.test("matchImpl() gives up after Oniguruma's retry limit instead of running forever", () => {
  const r = match("a".repeat(40) + "c", "(a|aa)+(b|$)");
  assert.deepEqual(r, { error: "Regex failure: retry-limit-in-match over" });
  // A required character that is missing fails fast instead.
  assert.deepEqual(match("a".repeat(10000), "(a*)*b"), []);
});

Deno.test("matchImpl() checks its arguments like jq 1.6", () => {
  const st = new JqState();
  assert.equal(
    matchImpl(
      st,
      JsonValue.number(1),
      JsonValue.string("a"),
      JsonValue.null(),
      JsonValue.bool(true),
      0,
    ),
    null,
  );
  assert.equal(st.err!.str, "number (1) cannot be matched, as it is not a string");
  assert.deepEqual(match("a", "a", "q"), { error: "q is not a valid modifier string" });
});
