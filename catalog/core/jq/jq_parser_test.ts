import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { toJs } from "../../native/js_bridge.ts";
import { BinOp, type JqNode, Op } from "./jq_ast.ts";
import { parseJq } from "./jq_parser.ts";

function parse(source: string): JqNode {
  const r = parseJq(source);
  assert.equal(r.error, null, `${source}: ${r.error?.message}`);
  return r.node!;
}

/** A compact picture of the tree: op names and nesting. */
function shape(n: JqNode | null): string {
  if (n === null) return "_";
  const name = Op[n.op];
  switch (n.op) {
    case Op.Literal:
      return JSON.stringify(toJs(n.value!));
    case Op.Field:
      return `${shape(n.a)}.${n.str}${n.opt ? "?" : ""}`;
    case Op.Identity:
      return ".";
    case Op.Binary:
      return `(${shape(n.a)} ${BinOp[n.num]} ${shape(n.b)})`;
    case Op.Call:
      return `${n.str}(${(n.list ?? []).map(shape).join(";")})`;
    case Op.Var:
      return `$${n.str}`;
    default:
      return `${name}(${[n.a, n.b, n.c].filter((x) => x !== null).map(shape).join(", ")})`;
  }
}

Deno.test("parseJq() follows jq 1.6's operator precedence", () => {
  assert.equal(shape(parse("1 + . * 3")), "(1 Add (. Mul 3))");
  assert.equal(shape(parse(". | .a, .b // .c")), "Pipe(., Comma(..a, Alt(..b, ..c)))");
  assert.equal(shape(parse(".a = 1 // 2")), "Alt(Assign(..a, 1), 2)");
  assert.equal(shape(parse("- . + 2")), "(Neg(.) Add 2)");
  assert.equal(shape(parse(".a and .b or .c")), "Or(And(..a, ..b), ..c)");
  // `try` binds tighter than binary operators; `?` applies to the operand it follows.
  assert.equal(shape(parse("try . + 1")), "(Try(.) Add 1)");
  assert.equal(shape(parse("1 + .?")), "(1 Add Try(.))");
  assert.equal(shape(parse(". as $x | $x | .")), "Bind(., Pipe($x, .))");
});

Deno.test("parseJq() builds suffixes, optional indexes and object shorthands", () => {
  assert.equal(shape(parse(".a.b?")), "..a.b?");
  const obj = parse('{a, "b": 1, (.k): .v, $x}');
  assert.equal(obj.op, Op.Object);
  assert.equal(obj.list!.length, 8);
  assert.equal(shape(obj.list![1]), "..a");
  // Constant objects and arrays are folded, as jq 1.6 does.
  assert.deepEqual(toJs(parse('{"a": [1, 2]}').value!), { a: [1, 2] });
});

Deno.test("parseJq() folds number arithmetic like jq 1.6", () => {
  assert.equal(parse("1 + 2 * 3").value!.num, 7);
  assert.ok(Number.isNaN(parse("0 / 0").value!.num));
  assert.equal(parseJq("1 / 0").error?.message, "Division by zero?");
  assert.equal(parseJq("(1) / (0)").error?.code, "syntax");
  assert.equal(parseJq("{(1): 2}").error?.message, "Cannot use number (1) as object key");
});

Deno.test("parseJq() refuses what jq 1.6 refuses to parse", () => {
  for (
    const source of [
      ".a |",
      "if . then 1 end",
      "1 == 2 == 3",
      ".a = .b = 1",
      "{a: 1 + 2}",
      "[1,]",
      "{$__loc__}",
      "reduce . as $x (0)",
      ". as [] | 1",
      "..a",
    ]
  ) {
    assert.equal(parseJq(source).error?.code, "syntax", source);
  }
});

Deno.test("parseJq() marks modules and ?// as unsupported", () => {
  assert.equal(parseJq('import "a" as a; .').error?.code, "unsupported");
  assert.equal(parseJq(". as [$a] ?// $a | $a").error?.code, "unsupported");
});

Deno.test("parseJq() gives $__loc__ the line of the token", () => {
  assert.deepEqual(toJs(parse("\n\n$__loc__").value!), { file: "<top-level>", line: 3 });
});
