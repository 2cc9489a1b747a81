import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { fromJs, toJs } from "../../native/js_bridge.ts";
import { delPaths, getPath, Owner, setPath } from "./jq_paths.ts";
import { JqState } from "./jq_state.ts";

Deno.test("setPath() copies shared containers and changes owned ones in place", () => {
  const st = new JqState();
  const input = fromJs({ a: { b: 1 }, c: [1] });
  const owner = new Owner();
  const first = setPath(st, input, fromJs(["a", "b"]), fromJs(2), owner, 0)!;
  assert.notEqual(first, input);
  assert.deepEqual(toJs(input), { a: { b: 1 }, c: [1] });
  const second = setPath(st, first, fromJs(["a", "x"]), fromJs(3), owner, 0)!;
  assert.equal(second, first, "an owned root is changed in place");
  assert.equal(second.get("a"), first.get("a"), "an owned child too");
  assert.equal(second.get("c"), input.get("c"), "untouched children stay shared");
  assert.deepEqual(toJs(second), { a: { b: 2, x: 3 }, c: [1] });
  const unowned = setPath(st, second, fromJs(["a", "b"]), fromJs(4), null, 0)!;
  assert.notEqual(unowned, second);
  assert.deepEqual(toJs(second), { a: { b: 2, x: 3 }, c: [1] });
});

Deno.test("setPath(), getPath() and delPaths() raise jq 1.6's errors", () => {
  const cases: [(st: JqState) => unknown, string][] = [
    [(st) => getPath(st, fromJs({}), fromJs("a"), 0), "Path must be specified as an array"],
    [
      (st) => setPath(st, fromJs([1]), fromJs([-2]), fromJs(0), null, 0),
      "Out of bounds negative array index",
    ],
    [
      (st) => setPath(st, fromJs([1]), fromJs([{ start: 0, end: 1 }]), fromJs(5), null, 0),
      "A slice of an array can only be assigned another array",
    ],
    [
      (st) => delPaths(st, fromJs({ a: 1 }), fromJs([[0]]), 0),
      "Cannot delete number field of object",
    ],
    [(st) => delPaths(st, fromJs(1), fromJs([["a"]]), 0), "Cannot delete fields from number"],
    [
      (st) => delPaths(st, fromJs({}), fromJs(["a"]), 0),
      "Path must be specified as array, not string",
    ],
  ];
  for (const [run, message] of cases) {
    const st = new JqState();
    assert.equal(run(st), null, message);
    assert.equal(st.err!.str, message);
  }
  const st = new JqState();
  assert.equal(getPath(st, fromJs({ a: 1 }), fromJs(["a", "b"]), 0), null);
  assert.equal(st.err!.str, 'Cannot index number with string "b"');
});

Deno.test("delPaths() deletes from the end so indexes stay valid", () => {
  const st = new JqState();
  const r = delPaths(st, fromJs([0, 1, 2, 3, 4]), fromJs([[0], [-1], [{ start: 1, end: 3 }]]), 0);
  assert.deepEqual(toJs(r!), [3]);
  const keep = delPaths(st, fromJs({ a: { b: 1, c: 2 }, d: 3 }), fromJs([["a", "b"], ["d"]]), 0);
  assert.deepEqual(toJs(keep!), { a: { c: 2 } });
});
