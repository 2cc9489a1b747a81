import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { compileJq, preludeSource } from "./compile_jq.ts";
import { findNative, nativeBuiltinNames, wordIndex } from "./jq_builtin_table.ts";
import { JQ_PRELUDE, JQ_PRELUDE_KEYS } from "./jq_prelude.ts";

/** The prelude split into definitions by `name/arity`, later ones winning (the former index). */
function preludeByKey(): Map<string, string> {
  const index = new Map<string, string>();
  const chunks = ("\n" + JQ_PRELUDE).split("\ndef ");
  for (let i = 1; i < chunks.length; i++) {
    const text = "def " + chunks[i];
    const head = /^def ([^(:]*)(?:\(([^)]*)\))?:/.exec(text)!;
    const arity = head[2] === undefined ? 0 : head[2].split(";").length;
    index.set(`${head[1]}/${arity}`, text);
  }
  return index;
}

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

Deno.test("JQ_PRELUDE_KEYS lists exactly the prelude's definitions", () => {
  const listed = JQ_PRELUDE_KEYS.trim().split(" ").sort();
  assert.deepEqual(listed, [...preludeByKey().keys()].sort());
  assert.ok(JQ_PRELUDE_KEYS.startsWith(" ") && JQ_PRELUDE_KEYS.endsWith(" "));
});

Deno.test("preludeSource() finds each definition's text and nothing else", () => {
  for (const [key, text] of preludeByKey()) {
    const [name, arity] = key.split("/");
    assert.equal(preludeSource(name, Number(arity)), text, key);
  }
  for (const [name, arity] of [["combinations", 2], ["combination", 0], ["split", 1], ["", 0]]) {
    assert.equal(preludeSource(name as string, arity as number), null, `${name}/${arity}`);
  }
});

Deno.test("findNative() gives each native built-in its position in the list", () => {
  const names = nativeBuiltinNames();
  const ids = new Map<string, number>();
  names.forEach((key, i) => key && ids.set(key, i));
  assert.ok(ids.size > 100);
  for (const [key, id] of ids) {
    const slash = key.lastIndexOf("/");
    assert.equal(findNative(key.slice(0, slash), Number(key.slice(slash + 1))), id, key);
  }
  for (const [name, arity] of [["map", 2], ["ma", 1], ["ap", 1], ["empty", 1], ["-", 0]]) {
    assert.equal(findNative(name as string, arity as number), -1, `${name}/${arity}`);
  }
});

Deno.test("wordIndex() finds the first whole word, as a split and indexOf would", () => {
  for (const list of [JQ_PRELUDE_KEYS, nativeBuiltinNames().join(" "), "a b  a", "", " x "]) {
    const words = list.split(" ");
    for (const key of [...words, "a ", "b a", "ap/1", "combination/0", "-"]) {
      assert.equal(wordIndex(list, key), words.indexOf(key), `${JSON.stringify(list)} ${key}`);
    }
  }
});

Deno.test("the built-in lists repeat no word (findNative takes the first match)", () => {
  for (const list of [JQ_PRELUDE_KEYS.trim(), nativeBuiltinNames().join(" ")]) {
    const words = list.split(" ").filter((w) => w !== "");
    assert.equal(new Set(words).size, words.length);
  }
});

Deno.test("no built-in is both native and defined in the prelude (the lookup order is free)", () => {
  const native = new Set(nativeBuiltinNames());
  for (const key of JQ_PRELUDE_KEYS.trim().split(" ")) assert.ok(!native.has(key), key);
});
