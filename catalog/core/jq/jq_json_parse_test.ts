import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { toJs } from "../../native/js_bridge.ts";
import { parseJqJson } from "./jq_json_parse.ts";
import { JqState } from "./jq_state.ts";

function parse(text: string): unknown {
  const st = new JqState();
  const v = parseJqJson(st, text, 0);
  if (v === null) return { error: st.err!.str };
  return toJs(v);
}

Deno.test("parseJqJson() accepts jq 1.6's looser literals", () => {
  assert.deepEqual(parse("[+1, 01, 1., .5, 1E+2, -0.5e1]"), [1, 1, 1, 0.5, 100, -5]);
  assert.equal(parse("Infinity"), Infinity);
  assert.equal(parse("-inf"), -Infinity);
  assert.ok(Number.isNaN(parse("NaN") as number));
  assert.deepEqual(parse('{"a":1,"a":2}'), { a: 2 });
  assert.deepEqual(parse(" \t[true,false,null]\r\n"), [true, false, null]);
});

Deno.test("parseJqJson() refuses what jq 1.6 refuses, with its messages and positions", () => {
  const cases: [string, string][] = [
    ["", "Expected JSON value (while parsing '')"],
    ["nan", "Invalid literal at EOF at line 1, column 3 (while parsing 'nan')"],
    ["0x10", "Invalid numeric literal at EOF at line 1, column 4 (while parsing '0x10')"],
    ["[1,2", "Unfinished JSON term at EOF at line 1, column 4 (while parsing '[1,2')"],
    ["1 2", "Unexpected extra JSON values (while parsing '1 2')"],
    ["[1,]", "Expected another array element at line 1, column 4 (while parsing '[1,]')"],
    ["{1:2}", "Object keys must be strings at line 1, column 3 (while parsing '{1:2}')"],
    [
      '"a\tb"',
      "Invalid string: control characters from U+0000 through U+001F must be escaped at line 1, column 5 (while parsing '\"a\tb\"')",
    ],
    [
      "[1,\n2,\n]",
      "Expected another array element at line 3, column 1 (while parsing '[1,\n2,\n]')",
    ],
    [
      '"\\ud800"',
      "Invalid \\uXXXX\\uXXXX surrogate pair escape at line 1, column 8 (while parsing '\"\\ud800\"')",
    ],
  ];
  for (const [text, message] of cases) assert.deepEqual(parse(text), { error: message }, text);
});

Deno.test("parseJqJson() stops at jq's nesting limit of 256", () => {
  assert.deepEqual(
    parse("[".repeat(256) + "]".repeat(256)),
    parse("[".repeat(256) + "]".repeat(256)),
  );
  assert.ok(Array.isArray(parse("[".repeat(256) + "]".repeat(256))));
  const deep = parse("[".repeat(257) + "]".repeat(257)) as { error: string };
  assert.match(deep.error, /^Exceeds depth limit for parsing at line 1, column 257/);
});
