import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { compileJq } from "./compile_jq.ts";

Deno.test("compileJq() accepts the supported subset", () => {
  for (
    const source of [
      ".",
      ".a[0:2] | map(. * 2) | add",
      'def f($x; g): [$x, g]; f(1; .) | {a: .[0], "b": .[1], (.[0] | tostring): 1}',
      "reduce .[] as [$a, {b: $c}] (0; . + $a + $c)",
      "[foreach .[] as $x (0; . + $x; [$x, .])]",
      "label $out | .[] | if . > 1 then ., break $out else . end",
      'try error("x") catch ., .a?, .[]?, (.b // 1)',
      ".a |= . + 1 | .b += 2 | .c //= 3 | del(.d) | to_entries",
      'test("a+"; "gi") and (sub("(?<x>a)"; "\\(.x)") | length > 0)',
      '@base64 "x\\(.)", @csv, @sh, $__loc__',
      'paths, leaf_paths, getpath(["a"]), splits(", ")',
    ]
  ) {
    const r = compileJq(source, []);
    assert.equal(r.error, null, `${source}: ${r.error?.message}`);
    assert.ok(r.program !== null);
  }
});

Deno.test("compileJq() refuses jq 1.6 built-ins it does not implement with code unsupported", () => {
  const cases: [string, string][] = [
    ["input", 'unsupported: builtin "input/0"'],
    ["1 | pow(.; 2)", 'unsupported: builtin "pow/2"'],
    ["now", 'unsupported: builtin "now/0"'],
    ["$ENV.HOME", 'unsupported: "$ENV" (there is no environment)'],
    ["env", 'unsupported: builtin "env/0"'],
    ['include "x"; .', 'unsupported: modules ("include")'],
  ];
  for (const [source, message] of cases) {
    const r = compileJq(source, []);
    assert.equal(r.program, null);
    assert.equal(r.error?.code, "unsupported", source);
    assert.equal(r.error?.message, message);
  }
});

Deno.test("compileJq() reports names jq does not define as syntax errors, with offsets", () => {
  const cases: [string, string, number][] = [
    ["1 | nosuch", "nosuch/0 is not defined", 4],
    ["map(1; 2)", "map/2 is not defined", 0],
    ["def f(g): g; f", "f/0 is not defined", 13],
    [". as $x | $y", "$y is not defined", 10],
    ["break $l", "$*label-l is not defined", 0],
  ];
  for (const [source, message, offset] of cases) {
    const r = compileJq(source, []);
    assert.equal(r.error?.code, "syntax", source);
    assert.equal(r.error?.message, message, source);
    assert.equal(r.error?.offset, offset, source);
  }
});

Deno.test("compileJq() takes outside variables from varNames, or leaves them to run time", () => {
  assert.equal(compileJq("$context.a", ["context"]).error, null);
  assert.equal(compileJq("$context.a", ["deps"]).error?.message, "$context is not defined");
  const open = compileJq("[$a, $b, $a]");
  assert.equal(open.error, null);
  assert.deepEqual(open.program!.globals, ["a", "b"]);
});

Deno.test("compileJq() lets definitions shadow built-ins, lexically", () => {
  const r = compileJq('def map(f): "mine"; [map(.), ([1] | add)]', []);
  assert.equal(r.error, null);
});
