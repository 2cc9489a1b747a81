import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { fromJs, toJs } from "../../native/js_bridge.ts";
import { parseJson } from "../json_parse.ts";
import { compileJq } from "./compile_jq.ts";
import { JqVars, runJq } from "./run_jq.ts";

function run(source: string, input: unknown, vars: JqVars | null = null) {
  const c = compileJq(source, vars === null ? [] : vars.names);
  assert.equal(c.error, null, `${source}: ${c.error?.message}`);
  const value = fromJs(input);
  const r = runJq(c.program!, value, vars);
  return { outputs: r.outputs.map(toJs), error: r.error, input: value };
}

Deno.test("runJq() returns every output in order", () => {
  assert.deepEqual(run(".[] | (., . * 10)", [1, 2]).outputs, [1, 10, 2, 20]);
  assert.deepEqual(run("[.[] | select(. > 1)]", [1, 2, 3]).outputs, [[2, 3]]);
  assert.deepEqual(run("empty", 1).outputs, []);
});

Deno.test("runJq() keeps the outputs before a runtime error and reports the error value", () => {
  const r = run('1, 2, error({"code": 7}), 3', null);
  assert.deepEqual(r.outputs, [1, 2]);
  assert.equal(r.error?.code, "runtime");
  assert.equal(r.error?.message, '(not a string): {"code":7}');
  assert.deepEqual(toJs(r.error!.value!), { code: 7 });
  const index = run(".[] | .a", [{ a: 1 }, 5]);
  assert.deepEqual(index.outputs, [1]);
  assert.equal(index.error?.message, 'Cannot index number with string "a"');
  assert.equal(index.error?.offset, 6);
});

Deno.test("runJq() binds named variables and refuses missing ones", () => {
  const vars = new JqVars(["context", "min"], [fromJs({ id: "x" }), fromJs(2)]);
  assert.deepEqual(run("[$context.id, (.[] | select(. >= $min))]", [1, 2, 3], vars).outputs, [
    ["x", 2, 3],
  ]);
  const open = compileJq("$missing");
  const r = runJq(open.program!, fromJs(null), null);
  assert.equal(r.error?.code, "runtime");
  assert.equal(r.error?.message, "$missing is not defined");
});

Deno.test("runJq() never changes its input, even when updates run in place", () => {
  const cases: [string, unknown][] = [
    [".a.b = 1 | .c[0] |= . + 1", { a: { b: 0 }, c: [1] }],
    [".[] |= . * 2", [1, 2, 3]],
    ["map_values(empty)", [1, 2, 3]],
    ["reduce range(3) as $i (.; .[$i] = $i)", [9, 9, 9]],
    [". as $x | reduce range(3) as $i ($x; . + [$i]) | [., $x]", [0]],
    ["reduce .[] as $k (.; .[$k | tostring] += 1)", { x: 1, y: 2 }],
    ["del(.a) | .b.c = 5", { a: 1, b: { c: 1 } }],
    ["to_entries | from_entries | .x = 1", { y: 2 }],
    ["(.a, .a.b) |= {}", { a: { b: 1 } }],
  ];
  for (const [source, input] of cases) {
    const before = JSON.stringify(input);
    const r = run(source, input);
    assert.equal(r.error, null, source);
    assert.equal(JSON.stringify(toJs(r.input)), before, `${source} changed its input`);
  }
});

Deno.test("runJq() keeps values produced during a reduction independent", () => {
  assert.deepEqual(run("reduce range(3) as $i ([]; . + [$i]) | [., .]", null).outputs, [
    [[0, 1, 2], [0, 1, 2]],
  ]);
  assert.deepEqual(
    run("[foreach range(3) as $i ([]; . + [$i])]", null).outputs,
    [[[0], [0, 1], [0, 1, 2]]],
  );
  assert.deepEqual(
    run('reduce range(2) as $i ({}; .["k\\($i)"] = .) ', null).outputs,
    [{ k0: {}, k1: { k0: {} } }],
  );
  assert.deepEqual(run('reduce ("a", "b") as $s (""; . + $s) | [., length]', null).outputs, [
    ["ab", 2],
  ]);
});

Deno.test("runJq() fails deep recursion with a runtime error instead of exhausting the stack", () => {
  const r = run("def r: if . > 0 then . - 1 | r else 0 end; r", 100000);
  assert.equal(r.error?.code, "runtime");
  assert.match(r.error!.message, /^Cannot evaluate the filter as it nests deeper than 1000 levels/);
  // Built-in loops and recursion over data are not limited that way.
  assert.deepEqual(
    run("[limit(3; repeat(1))], (reduce range(100000) as $x (0; . + 1))", null)
      .outputs,
    [[1, 1, 1], 100000],
  );
  assert.deepEqual(run("[recurse(if . < 5000 then . + 1 else empty end)] | length", 0).outputs, [
    5001,
  ]);
  assert.deepEqual(run("[range(5)] | until(length == 0; .[1:]) ", null).outputs, [[]]);
});

Deno.test("runJq() stops generators early for first, limit and label", () => {
  assert.deepEqual(run("first(range(1e9))", null).outputs, [0]);
  assert.deepEqual(run("[limit(2; range(1e9))]", null).outputs, [[0, 1]]);
  assert.deepEqual(
    run("label $out | range(1e9) | if . == 2 then break $out else . end", null)
      .outputs,
    [0, 1],
  );
  assert.deepEqual(run("isempty(range(1e9))", null).outputs, [false]);
});

Deno.test("runJq() handles very deep values without exhausting the stack", () => {
  const depth = 9990;
  const deepArray = "[".repeat(depth) + "]".repeat(depth);
  const deepObject = '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
  const cases: [string, string][] = [
    ["tojson | length", deepArray],
    ['"\\(.)" | length', deepArray],
    ["flatten | length", deepArray],
    ["contains(.)", deepArray],
    ["[..] | length", deepArray],
    [". * .", deepObject],
    ["walk(.) | length", deepObject],
    ["[paths] | length", deepObject],
  ];
  let completed = 0;
  for (const [source, text] of cases) {
    // The shared parser is iterative; js_bridge's fromJs would recurse.
    const input = parseJson(text);
    assert.equal(input.error, null);
    const r = runJq(compileJq(source, []).program!, input.value!);
    if (r.error === null) {
      completed++;
      continue;
    }
    assert.equal(r.error.code, "runtime", source);
    assert.match(r.error.message, /nests deeper than 1000 levels/, source);
  }
  assert.equal(completed, 2, "tojson and interpolation are iterative");
  const dumped = runJq(compileJq("tojson | length", []).program!, parseJson(deepArray).value!);
  assert.deepEqual(dumped.outputs.map(toJs), [2 * depth]);
});
