import assert from "node:assert/strict";
import "../../native/portable_runtime.ts";
import { fromJs } from "../../native/js_bridge.ts";
import { JsonValue } from "../json_value.ts";
import { compileSchema, SCHEMA_INVALID, SCHEMA_UNSUPPORTED } from "./compile_schema.ts";
import { validate } from "./validate.ts";

function failure(
  schema: unknown,
): { code: string | null; path: string | null; error: string | null } {
  const result = compileSchema(fromJs(schema));
  assert.equal(result.schema, null, `${JSON.stringify(schema)} should not compile`);
  return { code: result.code, path: result.path, error: result.error };
}

Deno.test("compileSchema() accepts booleans, empty schemas and the 2020-12 $schema", () => {
  for (
    const schema of [
      true,
      false,
      {},
      { $schema: "https://json-schema.org/draft/2020-12/schema", type: "object" },
      { title: "t", description: "d", default: 1, examples: [], $comment: "c", deprecated: true },
      { unknownKeyword: { type: 5 } },
    ]
  ) {
    const result = compileSchema(fromJs(schema));
    assert.equal(result.error, null, JSON.stringify(schema));
    assert.ok(result.schema !== null);
  }
});

Deno.test("compileSchema() names the location of an invalid keyword value", () => {
  const cases: [unknown, string, string][] = [
    [{ properties: { a: { minLength: -1 } } }, "#/properties/a/minLength", "non-negative integer"],
    [{ maxItems: 1.5 }, "#/maxItems", "non-negative integer"],
    [{ type: "strin" }, "#/type", "unique types"],
    [{ type: ["string", "string"] }, "#/type", "unique types"],
    [{ type: [] }, "#/type", "type name"],
    [{ multipleOf: 0 }, "#/multipleOf", "greater than 0"],
    [{ maximum: "3" }, "#/maximum", "a number"],
    [{ enum: [] }, "#/enum", "non-empty array"],
    [{ required: ["a", "a"] }, "#/required", "unique strings"],
    [{ required: "a" }, "#/required", "unique strings"],
    [{ allOf: [] }, "#/allOf", "non-empty array of schemas"],
    [{ anyOf: [1] }, "#/anyOf/0", "a schema"],
    [{ items: [{}] }, "#/items", "prefixItems"],
    [{ prefixItems: {} }, "#/prefixItems", "non-empty array"],
    [{ properties: [] }, "#/properties", "object of schemas"],
    [{ properties: { "a b": 3 } }, "#/properties/a%20b", "a schema"],
    [{ dependentRequired: { a: "b" } }, "#/dependentRequired/a", "unique strings"],
    [{ uniqueItems: 1 }, "#/uniqueItems", "a boolean"],
    [{ $ref: 5 }, "#/$ref", "URI reference"],
    [{ $anchor: "1bad" }, "#/$anchor", "^[A-Za-z_]"],
    [{ $id: "https://x.example/a#frag" }, "#/$id", "without a fragment"],
    [{ format: 1 }, "#/format", "a string"],
    [{ pattern: "a(" }, "#/pattern", "valid regular expression"],
    [{ pattern: 5 }, "#/pattern", "regular expression string"],
    [{ patternProperties: { "[z-a]": {} } }, "#/patternProperties/%5Bz-a%5D", "out of order"],
    [{ $defs: { a: 1 } }, "#/$defs/a", "a schema"],
  ];
  for (const [schema, path, words] of cases) {
    const f = failure(schema);
    assert.equal(f.code, SCHEMA_INVALID, JSON.stringify(schema));
    assert.equal(f.path, path, JSON.stringify(schema));
    assert.ok(f.error!.startsWith("Cannot compile the schema as " + path + " must"), f.error!);
    assert.ok(f.error!.includes(words), `${f.error} mentions ${words}`);
    assert.ok(f.error!.includes(": current value is "), f.error!);
  }
});

Deno.test("compileSchema() reports what it cannot do as unsupported", () => {
  const remote = failure({ $ref: "https://example.com/other.json#/a" });
  assert.equal(remote.code, SCHEMA_UNSUPPORTED);
  assert.equal(remote.path, "#/$ref");
  assert.ok(remote.error!.includes("remote references are unsupported"));
  assert.equal(failure({ properties: { a: { $ref: "other.json" } } }).path, "#/properties/a/$ref");
  const lookahead = failure({ type: "string", pattern: "^(?=a)" });
  assert.deepEqual([lookahead.code, lookahead.path], [SCHEMA_UNSUPPORTED, "#/pattern"]);
  assert.ok(lookahead.error!.includes("lookahead"), lookahead.error!);
  const backref = failure({ patternProperties: { "(a)\\1": {} } });
  assert.deepEqual([backref.code, backref.path], [
    SCHEMA_UNSUPPORTED,
    "#/patternProperties/(a)%5C1",
  ]);
  const draft7 = failure({ $schema: "http://json-schema.org/draft-07/schema#" });
  assert.deepEqual([draft7.code, draft7.path], [SCHEMA_UNSUPPORTED, "#/$schema"]);
});

Deno.test("compileSchema() refuses references that point nowhere", () => {
  const missing = failure({ $ref: "#/$defs/nope" });
  assert.deepEqual([missing.code, missing.path], [SCHEMA_INVALID, "#/$ref"]);
  assert.equal(failure({ $ref: "#nope" }).code, SCHEMA_INVALID);
  assert.equal(failure({ $ref: "#/$defs/~2" }).code, SCHEMA_INVALID);
  assert.equal(failure({ $ref: "#/%zz" }).code, SCHEMA_INVALID);
  assert.equal(failure({ $defs: { a: 5 }, $ref: "#/$defs/a" }).code, SCHEMA_INVALID);
});

Deno.test("compileSchema() refuses duplicate $id and $anchor", () => {
  const ids = failure({ $defs: { a: { $id: "x.json" }, b: { $id: "x.json" } } });
  assert.deepEqual([ids.code, ids.path], [SCHEMA_INVALID, "#/$defs/b/$id"]);
  const anchors = failure({ $defs: { a: { $anchor: "n" }, b: { $anchor: "n" } } });
  assert.deepEqual([anchors.code, anchors.path], [SCHEMA_INVALID, "#/$defs/b/$anchor"]);
  // The same name in different resources is fine.
  const separate = compileSchema(
    fromJs({ $defs: { a: { $anchor: "n" }, b: { $id: "b.json", $anchor: "n" } } }),
  );
  assert.equal(separate.error, null);
});

Deno.test("compileSchema() refuses $ref cycles that never move into the instance", () => {
  for (
    const schema of [
      { $ref: "#" },
      {
        $defs: { a: { $ref: "#/$defs/b" }, b: { allOf: [{ $ref: "#/$defs/a" }] } },
        $ref: "#/$defs/a",
      },
      { anyOf: [{ type: "string" }, { $ref: "#" }] },
      { not: { $ref: "#" } },
      { if: { $ref: "#" }, then: true },
      { dependentSchemas: { a: { $ref: "#" } } },
    ]
  ) {
    const f = failure(schema);
    assert.equal(f.code, SCHEMA_INVALID, JSON.stringify(schema));
    assert.ok(f.error!.includes("recurse forever"), f.error!);
  }
  // Recursion through properties or items consumes the instance: fine.
  const tree = { properties: { kids: { items: { $ref: "#" } } } };
  assert.equal(compileSchema(fromJs(tree)).error, null);
});

Deno.test("compileSchema() resolves $ref into unknown keywords and percent-encoded pointers", () => {
  const schema = {
    components: { positive: { type: "number", minimum: 0 } },
    $defs: { "a b": { type: "string" }, "c/d": { type: "boolean" } },
    properties: {
      n: { $ref: "#/components/positive" },
      s: { $ref: "#/$defs/a%20b" },
      b: { $ref: "#/$defs/c~1d" },
    },
  };
  const compiled = compileSchema(fromJs(schema)).schema!;
  const errors = validate(compiled, fromJs({ n: -1, s: 1, b: 1 }));
  assert.deepEqual(errors.map((e) => [e.instancePath, e.schemaPath]), [
    ["/n", "#/components/positive/minimum"],
    ["/s", "#/$defs/a%20b/type"],
    ["/b", "#/$defs/c~1d/type"],
  ]);
});

Deno.test("compileSchema() resolves relative $id against the base and refs across resources", () => {
  const schema = {
    $id: "https://example.com/schemas/root.json",
    properties: {
      a: { $ref: "defs/a.json" },
      b: { $ref: "defs/a.json#/properties/x" },
      c: { $ref: "https://example.com/schemas/defs/a.json#x-anchor" },
    },
    $defs: {
      a: {
        $id: "defs/a.json",
        type: "object",
        properties: { x: { $anchor: "x-anchor", type: "integer" } },
      },
    },
  };
  const result = compileSchema(fromJs(schema));
  assert.equal(result.error, null);
  const errors = validate(result.schema!, fromJs({ a: { x: 0.5 }, b: "s", c: 1.5 }));
  assert.deepEqual(errors.map((e) => [e.instancePath, e.schemaPath]), [
    ["/a/x", "#/$defs/a/properties/x/type"],
    ["/b", "#/$defs/a/properties/x/type"],
    ["/c", "#/$defs/a/properties/x/type"],
  ]);
});

Deno.test("compileSchema() limits how deeply schemas nest", () => {
  let schema: JsonValue = JsonValue.object();
  for (let i = 0; i < 300; i++) {
    const outer = JsonValue.object();
    outer.set("not", schema);
    schema = outer;
  }
  const result = compileSchema(schema);
  assert.equal(result.code, SCHEMA_INVALID);
  assert.ok(result.error!.includes("nests deeper than 256"), result.error!);
});
