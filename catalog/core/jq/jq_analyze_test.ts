import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { fromJs, toJs } from "../../native/js_bridge.ts";
import { compileJq } from "./compile_jq.ts";
import { runJq } from "./run_jq.ts";

function root(source: string) {
  const r = compileJq(source, []);
  assert.equal(r.error, null, source);
  return r.program!.root;
}

Deno.test("analyze() marks single-output nodes without an active try as direct", () => {
  for (
    const source of [".a.b", "1 + .x * 2", "{a: .b, c: [.[]]}", "reduce .[] as $x (0; . + $x)"]
  ) {
    assert.equal(root(source).one, true, source);
  }
  for (
    const source of [".[]", "1, 2", "range(3)", "try .a", ".a?, 1", "(try .a) + 1", "first(try .a)"]
  ) {
    assert.equal(root(source).one, false, source);
  }
  // A recursive definition is direct when its body is, assuming the recursion is.
  assert.equal(root("def f: if . > 0 then . - 1 | f else 0 end; f").one, true);
  assert.equal(root("def f: if . > 0 then (. - 1 | f), 1 else 0 end; f").one, false);
});

Deno.test("direct evaluation keeps jq 1.6's try semantics: a try still catches later errors", () => {
  // jq 1.6 catches the error raised after `try` produced its value.
  const run = (source: string) => runJq(compileJq(source, []).program!, fromJs(null));
  assert.deepEqual(run("(try 1) + 1 | error").outputs.map(toJs), []);
  assert.equal(run("(try 1) + 1 | error").error, null);
  assert.equal(run("[try 1] | error").error?.code, "runtime");
});
