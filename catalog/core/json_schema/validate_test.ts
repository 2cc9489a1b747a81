import assert from "node:assert/strict";
import "../../native/portable_runtime.ts";
import { fromJs, toJs } from "../../native/js_bridge.ts";
import { CompileOptions, compileSchema } from "./compile_schema.ts";
import { validate, ValidateOptions, validateWith } from "./validate.ts";

type Found = [instancePath: string, schemaPath: string, keyword: string];

function compiled(schema: unknown, assertFormats = false) {
  const options = new CompileOptions();
  options.assertFormats = assertFormats;
  const result = compileSchema(fromJs(schema), options);
  assert.equal(result.error, null, `schema ${JSON.stringify(schema)} should compile`);
  return result.schema!;
}

/** Errors of `instance` as [instancePath, schemaPath, keyword] triples, in reported order. */
function errorsOf(schema: unknown, instance: unknown): Found[] {
  return validate(compiled(schema), fromJs(instance)).map((
    e,
  ) => [e.instancePath, e.schemaPath, e.keyword]);
}

/** Asserts that each valid instance passes and each invalid one reports exactly `errors`. */
function cases(schema: unknown, valid: unknown[], invalid: [unknown, Found[]][]) {
  for (const v of valid) {
    assert.deepEqual(errorsOf(schema, v), [], `${JSON.stringify(v)} should be valid`);
  }
  for (const [v, expected] of invalid) {
    assert.deepEqual(errorsOf(schema, v), expected, `${JSON.stringify(v)} errors`);
  }
}

Deno.test("validate() checks type, including type arrays and integer as a whole number", () => {
  cases({ type: "integer" }, [1, 1.0, -0, 1e300], [
    [1.5, [["", "#/type", "type"]]],
    ["1", [["", "#/type", "type"]]],
  ]);
  cases({ type: ["string", "null"] }, ["", null], [[0, [["", "#/type", "type"]]]]);
  cases({ type: "number" }, [0.5, 3], [[true, [["", "#/type", "type"]]]]);
  cases({ type: "object" }, [{}], [[[], [["", "#/type", "type"]]]]);
  cases({ type: "array" }, [[]], [[{}, [["", "#/type", "type"]]]]);
  cases({ type: "boolean" }, [false], [[0, [["", "#/type", "type"]]]]);
  const errors = validate(compiled({ type: ["string", "null"] }), fromJs(1));
  assert.equal(errors[0].message, "must be string,null");
});

Deno.test("validate() compares enum and const deeply: 1 equals 1.0, key order is ignored", () => {
  cases({ const: { a: [1, { b: null }] } }, [{ a: [1.0, { b: null }] }], [
    [{ a: [1, { b: false }] }, [["", "#/const", "const"]]],
    [{ a: [1] }, [["", "#/const", "const"]]],
  ]);
  cases({ enum: [1, "a", { x: 1, y: 2 }, [null]] }, [1.0, "a", { y: 2, x: 1 }, [null]], [
    ["b", [["", "#/enum", "enum"]]],
    [[null, null], [["", "#/enum", "enum"]]],
  ]);
});

Deno.test("validate() applies numeric limits and ajv's float-quotient multipleOf", () => {
  cases({ maximum: 3, minimum: 1 }, [1, 3, "x"], [
    [4, [["", "#/maximum", "maximum"]]],
    [0, [["", "#/minimum", "minimum"]]],
  ]);
  cases({ exclusiveMaximum: 3, exclusiveMinimum: 1 }, [2], [
    [3, [["", "#/exclusiveMaximum", "exclusiveMaximum"]]],
    [1, [["", "#/exclusiveMinimum", "exclusiveMinimum"]]],
  ]);
  cases({ multipleOf: 0.5 }, [1.5, 0, -2], [[1.25, [["", "#/multipleOf", "multipleOf"]]]]);
  // ajv divides and checks for an integer quotient: 0.3 / 0.1 = 2.9999999999999996.
  cases({ multipleOf: 0.1 }, [0.5], [[0.3, [["", "#/multipleOf", "multipleOf"]]]]);
  // A quotient of 1e21 or more prints in exponent form, which ajv's parseInt misreads.
  cases({ multipleOf: 1e-30 }, [], [[1e-8, [["", "#/multipleOf", "multipleOf"]]]]);
  const errors = validate(compiled({ maximum: 2.5 }), fromJs(3));
  assert.equal(errors[0].message, "must be <= 2.5");
});

Deno.test("validate() counts string length in code points, not UTF-16 units", () => {
  cases({ maxLength: 2, minLength: 2 }, ["ab", "\u{1F600}\u{1F600}", "\uD800x"], [
    ["abc", [["", "#/maxLength", "maxLength"]]],
    ["\u{1F600}", [["", "#/minLength", "minLength"]]],
    ["\u{1F600}\u{1F600}\u{1F600}", [["", "#/maxLength", "maxLength"]]],
  ]);
});

Deno.test("validate() applies pattern as an unanchored ECMAScript search on code points", () => {
  cases({ pattern: "^[a-c]+\\d?$" }, ["abc", "a1", 5], [
    ["abd", [["", "#/pattern", "pattern"]]],
    ["", [["", "#/pattern", "pattern"]]],
  ]);
  cases({ pattern: "b" }, ["abc"], [["ac", [["", "#/pattern", "pattern"]]]]);
  cases({ pattern: "^.$" }, ["\u{1F600}"], [["ab", [["", "#/pattern", "pattern"]]]]);
  assert.equal(
    validate(compiled({ pattern: "^a" }), fromJs("b"))[0].message,
    'must match pattern "^a"',
  );
});

Deno.test("validate() applies patternProperties and leaves matched keys out of additionalProperties", () => {
  const schema = {
    properties: { id: { type: "integer" } },
    patternProperties: { "^x-": { type: "string" }, "\\d$": { maximum: 5 } },
    additionalProperties: false,
  };
  cases(schema, [{ id: 1, "x-a": "s", n1: 3, "x-2": "t" }], [
    [{ "x-a": 1, n9: 7, other: true }, [
      ["", "#/additionalProperties", "additionalProperties"],
      ["/x-a", "#/patternProperties/%5Ex-/type", "type"],
      ["/n9", "#/patternProperties/%5Cd%24/maximum", "maximum"],
    ]],
    // A key can match several patterns; each applies.
    [{ "x-9": 9 }, [
      ["/x-9", "#/patternProperties/%5Ex-/type", "type"],
      ["/x-9", "#/patternProperties/%5Cd%24/maximum", "maximum"],
    ]],
  ]);
  cases({ patternProperties: { "^a": true }, unevaluatedProperties: false }, [{ ab: 1 }], [
    [{ ab: 1, b: 2 }, [["", "#/unevaluatedProperties", "unevaluatedProperties"]]],
  ]);
  const options = new ValidateOptions();
  options.filterExtra = true;
  const filtered = validateWith(compiled(schema), fromJs({ id: 1, "x-a": "s", drop: 1 }), options);
  assert.deepEqual(toJs(filtered.value), { id: 1, "x-a": "s" });
});

Deno.test("validate() checks array sizes and uniqueItems with deep equality", () => {
  cases({ maxItems: 2, minItems: 1 }, [[1], [1, 2]], [
    [[], [["", "#/minItems", "minItems"]]],
    [[1, 2, 3], [["", "#/maxItems", "maxItems"]]],
  ]);
  cases({ uniqueItems: true }, [[1, "1", [1], { a: 1 }], []], [
    [[1, 1.0], [["", "#/uniqueItems", "uniqueItems"]]],
    [[{ a: 1, b: 2 }, { b: 2, a: 1 }], [["", "#/uniqueItems", "uniqueItems"]]],
  ]);
  cases({ uniqueItems: false }, [[1, 1]], []);
  const errors = validate(compiled({ uniqueItems: true }), fromJs([1, 2, 1, 3, 2]));
  assert.equal(errors[0].message, "must NOT have duplicate items (items ## 1 and 4 are identical)");
});

Deno.test("validate() applies prefixItems, items and items: false after a prefix", () => {
  const schema = {
    prefixItems: [{ type: "string" }, { type: "number" }],
    items: { type: "boolean" },
  };
  cases(schema, [[], ["a"], ["a", 1, true, false]], [
    [[1, "a", null], [
      ["/0", "#/prefixItems/0/type", "type"],
      ["/1", "#/prefixItems/1/type", "type"],
      ["/2", "#/items/type", "type"],
    ]],
  ]);
  cases({ prefixItems: [true], items: false }, [[1]], [[[1, 2, 3], [["", "#/items", "items"]]]]);
  // Without prefixItems each item meets the false schema, as in ajv.
  cases({ items: false }, [[]], [[[1, 2], [
    ["/0", "#/items", "false schema"],
    ["/1", "#/items", "false schema"],
  ]]]);
});

Deno.test("validate() checks contains with minContains and maxContains", () => {
  const schema = { contains: { type: "string" } };
  cases(schema, [["a"], [1, "a"]], [
    // ajv keeps the item errors of a failed contains.
    [[1, 2], [["/0", "#/contains/type", "type"], ["/1", "#/contains/type", "type"], [
      "",
      "#/contains",
      "contains",
    ]]],
    [[], [["", "#/contains", "contains"]]],
  ]);
  const ranged = { contains: { type: "string" }, minContains: 2, maxContains: 3 };
  cases(ranged, [["a", "b"], ["a", 1, "b", "c"]], [
    [["a", 1], [["/1", "#/contains/type", "type"], ["", "#/contains", "contains"]]],
    // Stops at the fourth match, like ajv: the item errors before it stay.
    [["a", "b", 0, "c", "d", "e"], [["/2", "#/contains/type", "type"], [
      "",
      "#/contains",
      "contains",
    ]]],
  ]);
  cases({ contains: { type: "string" }, minContains: 0 }, [[], [1]], []);
  cases({ contains: { type: "string" }, minContains: 0, maxContains: 0 }, [[1]], [
    [["a"], [["", "#/contains", "contains"]]],
  ]);
  cases({ contains: true, minContains: 2 }, [[1, 2]], [[[1], [["", "#/contains", "contains"]]]]);
  cases({ contains: true, minContains: 3, maxContains: 2 }, [], [[[1, 2], [[
    "",
    "#/contains",
    "contains",
  ]]]]);
  const errors = validate(compiled(ranged), fromJs([]));
  assert.equal(errors[0].message, "must contain at least 2 and no more than 3 valid item(s)");
});

Deno.test("validate() checks object sizes, required and dependentRequired", () => {
  cases({ maxProperties: 1, minProperties: 1 }, [{ a: 1 }], [
    [{}, [["", "#/minProperties", "minProperties"]]],
    [{ a: 1, b: 2 }, [["", "#/maxProperties", "maxProperties"]]],
  ]);
  cases({ required: ["a", "b"] }, [{ a: 1, b: null }, "not an object"], [
    [{ b: 1 }, [["", "#/required", "required"]]],
    [{}, [["", "#/required", "required"], ["", "#/required", "required"]]],
  ]);
  const errors = validate(compiled({ required: ["a/b"] }), fromJs({}));
  assert.equal(errors[0].message, "must have required property 'a/b'");
  cases({ dependentRequired: { a: ["b", "c"] } }, [{}, { b: 1 }, { a: 1, b: 1, c: 1 }], [
    [{ a: 1, c: 1 }, [["", "#/dependentRequired", "dependentRequired"]]],
  ]);
  const dep = validate(compiled({ dependentRequired: { a: ["b", "c"] } }), fromJs({ a: 1 }));
  assert.equal(dep.length, 2);
  assert.equal(dep[0].message, "must have properties b, c when property a is present");
});

Deno.test("validate() applies properties, additionalProperties and propertyNames", () => {
  const schema = {
    properties: { a: { type: "string" }, "x/y": { type: "number" } },
    additionalProperties: { type: "boolean" },
  };
  cases(schema, [{ a: "s", "x/y": 1, other: true }], [
    [{ a: 1, "x/y": "s", z: 1 }, [
      ["/z", "#/additionalProperties/type", "type"],
      ["/a", "#/properties/a/type", "type"],
      ["/x~1y", "#/properties/x~1y/type", "type"],
    ]],
  ]);
  cases({ properties: { a: true }, additionalProperties: false }, [{ a: 1 }], [
    [{ a: 1, b: 2, c: 3 }, [
      ["", "#/additionalProperties", "additionalProperties"],
      ["", "#/additionalProperties", "additionalProperties"],
    ]],
  ]);
  // Property names are validated at the object's path, then reported once each.
  cases({ propertyNames: { maxLength: 2 } }, [{ ab: 1 }], [
    [{ abc: 1, d: 2 }, [["", "#/propertyNames/maxLength", "maxLength"], [
      "",
      "#/propertyNames",
      "propertyNames",
    ]]],
  ]);
  // Schema paths percent-encode property names, like ajv.
  cases({ properties: { "a b": { type: "string" } } }, [], [
    [{ "a b": 1 }, [["/a b", "#/properties/a%20b/type", "type"]]],
  ]);
});

Deno.test("validate() applies dependentSchemas and the older dependencies keyword", () => {
  cases({ dependentSchemas: { a: { required: ["b"] } } }, [{}, { a: 1, b: 1 }], [
    [{ a: 1 }, [["", "#/dependentSchemas/a/required", "required"]]],
  ]);
  cases({ dependencies: { a: ["b"], c: { required: ["d"] } } }, [{ a: 1, b: 1 }, { c: 1, d: 1 }], [
    [{ a: 1, c: 1 }, [["", "#/dependencies", "dependencies"], [
      "",
      "#/dependencies/c/required",
      "required",
    ]]],
  ]);
});

Deno.test("validate() combines allOf, anyOf, oneOf and not", () => {
  cases({ allOf: [{ type: "number" }, { minimum: 2 }] }, [2], [
    ["x", [["", "#/allOf/0/type", "type"]]],
    [1, [["", "#/allOf/1/minimum", "minimum"]]],
  ]);
  cases({ anyOf: [{ type: "string" }, { minimum: 2 }] }, ["x", 3], [
    [1, [["", "#/anyOf/0/type", "type"], ["", "#/anyOf/1/minimum", "minimum"], [
      "",
      "#/anyOf",
      "anyOf",
    ]]],
  ]);
  cases({ oneOf: [{ type: "number" }, { minimum: 2 }] }, [1, "x"], [
    [3, [["", "#/oneOf", "oneOf"]]],
  ]);
  cases({ oneOf: [{ type: "number" }, { type: "string" }] }, [1], [
    [null, [["", "#/oneOf/0/type", "type"], ["", "#/oneOf/1/type", "type"], [
      "",
      "#/oneOf",
      "oneOf",
    ]]],
  ]);
  cases({ not: { type: "string" } }, [1], [["x", [["", "#/not", "not"]]]]);
  cases({ not: {} }, [], [[1, [["", "#/not", "not"]]]]);
});

Deno.test("validate() applies if/then/else and reports the failed branch under if", () => {
  const schema = { if: { type: "string" }, then: { minLength: 2 }, else: { minimum: 5 } };
  cases(schema, ["ab", 7], [
    ["a", [["", "#/then/minLength", "minLength"], ["", "#/if", "if"]]],
    [1, [["", "#/else/minimum", "minimum"], ["", "#/if", "if"]]],
  ]);
  assert.equal(
    validate(compiled(schema), fromJs("a"))[1].message,
    'must match "then" schema',
  );
  cases({ then: { type: "string" } }, [1], []);
});

Deno.test("validate() reports a false schema where it applies", () => {
  cases(false, [], [[1, [["", "#", "false schema"]]]]);
  cases(true, [1, null], []);
  cases({ properties: { a: false } }, [{}], [[{ a: 1 }, [[
    "/a",
    "#/properties/a",
    "false schema",
  ]]]]);
});

Deno.test("validate() tracks unevaluatedProperties through applicators", () => {
  const schema = {
    properties: { a: true },
    allOf: [{ properties: { b: true } }],
    anyOf: [{ properties: { c: true }, required: ["c"] }, { properties: { d: true } }],
    unevaluatedProperties: false,
  };
  cases(schema, [{ a: 1, b: 1, c: 1 }, { a: 1, d: 1 }, { a: 1, c: 1, d: 1 }], [
    [{ a: 1, e: 1 }, [["", "#/unevaluatedProperties", "unevaluatedProperties"]]],
  ]);
  // Annotations of a failed `if` are dropped.
  const conditional = {
    if: { properties: { kind: { const: "a" } }, required: ["kind"] },
    then: { properties: { x: true } },
    else: { properties: { y: true } },
    unevaluatedProperties: false,
  };
  cases(conditional, [{ kind: "a", x: 1 }, { y: 1 }], [
    [{ kind: "b", y: 1 }, [["", "#/unevaluatedProperties", "unevaluatedProperties"]]],
    [{ kind: "a", y: 1 }, [["", "#/unevaluatedProperties", "unevaluatedProperties"]]],
  ]);
  // Properties seen by `not` never count; dependentSchemas count when present.
  cases({ not: { required: ["z"] }, unevaluatedProperties: false }, [{}], [
    [{ a: 1 }, [["", "#/unevaluatedProperties", "unevaluatedProperties"]]],
  ]);
  cases(
    {
      dependentSchemas: { a: { properties: { b: true } } },
      properties: { a: true },
      unevaluatedProperties: false,
    },
    [{ a: 1, b: 1 }],
    [[{ b: 1 }, [["", "#/unevaluatedProperties", "unevaluatedProperties"]]]],
  );
  // A schema-valued unevaluatedProperties validates the rest.
  cases(
    { properties: { a: true }, unevaluatedProperties: { type: "number" } },
    [{ a: "x", b: 1 }],
    [
      [{ b: "x" }, [["/b", "#/unevaluatedProperties/type", "type"]]],
    ],
  );
});

Deno.test("validate() tracks unevaluatedItems through prefixItems, items and contains", () => {
  cases({ prefixItems: [true], unevaluatedItems: false }, [[], [1]], [
    [[1, 2], [["", "#/unevaluatedItems", "unevaluatedItems"]]],
  ]);
  cases({ allOf: [{ prefixItems: [true, true] }], unevaluatedItems: false }, [[1, 2]], [
    [[1, 2, 3], [["", "#/unevaluatedItems", "unevaluatedItems"]]],
  ]);
  // 2020-12: contains evaluates exactly the items it matched (ajv marks all of them).
  cases({ contains: { type: "string" }, unevaluatedItems: false }, [["a", "b"]], [
    [["a", 1], [["", "#/unevaluatedItems", "unevaluatedItems"]]],
  ]);
  cases({ contains: true, unevaluatedItems: false }, [[1, "a"]], []);
  // Through an in-place applicator, and with minContains: 0 (always valid, still annotating).
  cases({ allOf: [{ contains: { type: "string" } }], unevaluatedItems: { type: "number" } }, [[
    "a",
    1,
  ]], [
    [["a", true], [["/1", "#/unevaluatedItems/type", "type"]]],
  ]);
  cases(
    { contains: { type: "string" }, minContains: 0, unevaluatedItems: false },
    [[], ["a", "b"]],
    [
      [["a", 1], [["", "#/unevaluatedItems", "unevaluatedItems"]]],
    ],
  );
  // Items past where ajv stops counting (maxContains reached) still count as evaluated.
  cases({ contains: { type: "string" }, maxContains: 5, unevaluatedItems: false }, [[
    "a",
    "b",
    "c",
  ]], []);
  cases({ unevaluatedItems: { type: "number" }, prefixItems: [{ type: "string" }] }, [["a", 1]], [
    [["a", "b"], [["/1", "#/unevaluatedItems/type", "type"]]],
  ]);
});

Deno.test("validate() follows $ref to $defs, JSON pointers, $anchor and $id", () => {
  const tree = {
    $defs: {
      node: {
        type: "object",
        properties: {
          value: { type: "number" },
          children: { type: "array", items: { $ref: "#/$defs/node" } },
        },
      },
    },
    $ref: "#/$defs/node",
  };
  cases(tree, [{ value: 1, children: [{ value: 2, children: [] }] }], [
    [{ value: 1, children: [{ value: "x" }] }, [[
      "/children/0/value",
      "#/$defs/node/properties/value/type",
      "type",
    ]]],
  ]);
  cases({ properties: { a: { type: "string" }, b: { $ref: "#/properties/a" } } }, [{ b: "x" }], [
    [{ b: 1 }, [["/b", "#/properties/a/type", "type"]]],
  ]);
  cases({ $defs: { s: { $anchor: "str", type: "string" } }, $ref: "#str" }, ["x"], [
    [1, [["", "#/$defs/s/type", "type"]]],
  ]);
  const ids = {
    $id: "https://example.com/root.json",
    $defs: { item: { $id: "item.json", type: "integer" } },
    items: { $ref: "item.json" },
  };
  cases(ids, [[1, 2]], [[[1.5], [["/0", "#/$defs/item/type", "type"]]]]);
  cases(
    {
      $id: "https://example.com/a/b.json",
      $defs: { x: { $id: "../x", minimum: 3 } },
      $ref: "https://example.com/x",
    },
    [4],
    [
      [1, [["", "#/$defs/x/minimum", "minimum"]]],
    ],
  );
});

Deno.test("validate() resolves $dynamicRef through the dynamic scope", () => {
  // The 2020-12 spec's extensible tree: the outer schema's anchor wins.
  const strictTree = {
    $id: "https://example.com/strict-tree",
    $dynamicAnchor: "node",
    $ref: "tree",
    unevaluatedProperties: false,
    $defs: {
      tree: {
        $id: "tree",
        $dynamicAnchor: "node",
        type: "object",
        properties: { data: true, children: { type: "array", items: { $dynamicRef: "#node" } } },
      },
    },
  };
  cases(strictTree, [{ children: [{ data: 1 }] }], [
    [{ children: [{ daat: 1 }] }, [[
      "/children/0",
      "#/unevaluatedProperties",
      "unevaluatedProperties",
    ]]],
  ]);
  // Without a matching $dynamicAnchor at the target it acts like $ref.
  cases({ $defs: { a: { $anchor: "a", type: "string" } }, $dynamicRef: "#a" }, ["x"], [
    [1, [["", "#/$defs/a/type", "type"]]],
  ]);
});

Deno.test("validate() applies format only when compiled with assertFormats", () => {
  const schema = { type: "string", format: "date" };
  assert.deepEqual(validate(compiled(schema), fromJs("2023-02-30")), []);
  const strict = validate(compiled(schema, true), fromJs("2023-02-30"));
  assert.deepEqual(strict.map((e) => [e.schemaPath, e.keyword, e.message]), [[
    "#/format",
    "format",
    'must match format "date"',
  ]]);
  assert.deepEqual(validate(compiled(schema, true), fromJs("2024-02-29")), []);
  assert.deepEqual(validate(compiled({ format: "unknown-format" }, true), fromJs("x")), []);
});

Deno.test("validateWith() coerces scalars like ajv's coerceTypes and returns the value", () => {
  const options = new ValidateOptions();
  options.coerce = true;
  const schema = {
    type: "object",
    properties: {
      n: { type: "number" },
      i: { type: "integer" },
      b: { type: "boolean" },
      s: { type: "string" },
      z: { type: "null" },
      list: { type: "array", items: { type: "integer" } },
      bad: { type: "integer" },
    },
  };
  const result = validateWith(
    compiled(schema),
    fromJs({ n: "1.5", i: "42", b: "false", s: 12.5, z: 0, list: ["1", true, null], bad: "1.5" }),
    options,
  );
  assert.deepEqual(result.errors.map((e) => [e.instancePath, e.keyword]), [["/bad", "type"]]);
  assert.deepEqual(toJs(result.value), {
    n: 1.5,
    i: 42,
    b: false,
    s: "12.5",
    z: null,
    list: [1, 1, 0],
    bad: "1.5",
  });
  // The root scalar is returned coerced; keywords after type see the new value.
  const root = validateWith(compiled({ type: "integer", maximum: 5 }), fromJs("7"), options);
  assert.equal(toJs(root.value), 7);
  assert.deepEqual(root.errors.map((e) => e.keyword), ["maximum"]);
  // Without the option nothing changes.
  const plain = fromJs({ n: "1" });
  assert.equal(validate(compiled(schema), plain).length, 1);
  assert.deepEqual(toJs(plain), { n: "1" });
});

Deno.test("validateWith() removes properties additionalProperties: false forbids (filter_extra)", () => {
  const options = new ValidateOptions();
  options.filterExtra = true;
  const schema = {
    properties: { keep: { type: "object", properties: { a: true }, additionalProperties: false } },
    additionalProperties: false,
  };
  const big: Record<string, number> = {};
  for (let i = 0; i < 40; i++) big[`k${i}`] = i;
  const result = validateWith(
    compiled(schema),
    fromJs({ keep: { a: 1, ...big }, drop: 1 }),
    options,
  );
  assert.deepEqual(result.errors, []);
  assert.deepEqual(toJs(result.value), { keep: { a: 1 } });
  assert.equal(result.value.get("keep")!.get("k3"), null);
  // A schema-valued additionalProperties still validates instead of removing.
  const typed = validateWith(
    compiled({ additionalProperties: { type: "number" } }),
    fromJs({ a: "x" }),
    options,
  );
  assert.deepEqual(typed.errors.map((e) => e.keyword), ["type"]);
  assert.deepEqual(toJs(typed.value), { a: "x" });
});

Deno.test("validateWith() stops a runaway recursion with a maxDepth error instead of overflowing", () => {
  const schema = { $defs: { n: { items: { $ref: "#/$defs/n" } } }, $ref: "#/$defs/n" };
  let deep: unknown = [];
  for (let i = 0; i < 100; i++) deep = [deep];
  const options = new ValidateOptions();
  options.maxDepth = 50;
  const result = validateWith(compiled(schema), fromJs(deep), options);
  assert.equal(result.errors.length, 1);
  assert.equal(result.errors[0].keyword, "maxDepth");
  options.maxDepth = 512;
  assert.deepEqual(validateWith(compiled(schema), fromJs(deep), options).errors, []);
});

Deno.test("validate() handles large instances without quadratic work", () => {
  const schema = compiled({
    type: "array",
    uniqueItems: true,
    items: {
      type: "object",
      required: ["id"],
      properties: { id: { type: "integer" }, tags: { type: "array", items: { type: "string" } } },
      additionalProperties: false,
    },
  });
  const items = [];
  for (let i = 0; i < 20000; i++) items.push({ id: i, tags: ["a", "b"] });
  assert.deepEqual(validate(schema, fromJs(items)), []);
  items.push({ id: 5, tags: ["a", "b"] });
  const errors = validate(schema, fromJs(items));
  assert.deepEqual(errors.map((e) => e.keyword), ["uniqueItems"]);
  assert.equal(
    errors[0].message,
    "must NOT have duplicate items (items ## 5 and 20000 are identical)",
  );
});
