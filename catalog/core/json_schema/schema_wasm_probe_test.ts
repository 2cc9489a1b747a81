// The wasm build of the JSON Schema validator against the native build: the
// probe (schema_wasm_probe.ts) compiles with asc (-O3, stub runtime, the
// catalog platform lib) and must give byte-identical reports for the same
// schema, instance and options.
import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import {
  PROBE_ASSERT_FORMATS,
  PROBE_COERCE,
  PROBE_FILTER_EXTRA,
  runProbe,
} from "./schema_wasm_probe.ts";

const ROOT = new URL("../../../", import.meta.url);
const ENTRY = "catalog/core/json_schema/schema_wasm_probe.ts";
const decoder = new TextDecoder();

let probeModule: Promise<WebAssembly.Module> | null = null;

/**
 * Compiles the probe once per run in a child process: the compiler and
 * portable_runtime.ts both install AssemblyScript's builtins as globals, so
 * they cannot share this realm.
 */
function compileProbe(): Promise<WebAssembly.Module> {
  probeModule ??= (async () => {
    const out = await Deno.makeTempFile({ suffix: ".wasm" });
    try {
      const script = [
        `import asc from "assemblyscript/asc";`,
        `const args = ${
          JSON.stringify([ENTRY, "-O3", "--runtime", "stub", "--lib", "catalog/wasm/lib"])
        };`,
        `const { error, stderr } = await asc.main([...args, "--outFile", ${
          JSON.stringify(out)
        }], {});`,
        `if (error) { console.error(stderr.toString()); Deno.exit(1); }`,
      ].join("\n");
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["eval", script],
        cwd: ROOT,
        stdout: "null",
        stderr: "piped",
      }).output();
      if (code !== 0) throw new Error(`Cannot build ${ENTRY}:\n${decoder.decode(stderr)}`);
      return new WebAssembly.Module(await Deno.readFile(out));
    } finally {
      await Deno.remove(out);
    }
  })();
  return probeModule;
}

interface ProbeExports {
  memory: WebAssembly.Memory;
  newText(length: number): number;
  runProbe(schema: number, instance: number, flags: number): number;
  benchProbe(schema: number, instance: number, rounds: number): number;
}

/** A fresh probe instance (stub runtime: memory only grows, so one per case). */
async function instantiate(): Promise<ProbeExports> {
  let exports: ProbeExports | null = null;
  const instance = new WebAssembly.Instance(await compileProbe(), {
    env: {
      abort(msg: number, file: number, line: number, col: number) {
        throw new Error(
          `abort: ${readText(exports!, msg)} at ${readText(exports!, file)}:${line}:${col}`,
        );
      },
    },
  });
  exports = instance.exports as unknown as ProbeExports;
  return exports;
}

/** An AssemblyScript string: UTF-16 units at `ptr`, byte length in the header word before it. */
function readText(ex: ProbeExports, ptr: number): string {
  if (ptr === 0) return "";
  const bytes = new Uint32Array(ex.memory.buffer, ptr - 4, 1)[0];
  return new TextDecoder("utf-16le").decode(new Uint8Array(ex.memory.buffer, ptr, bytes));
}

function writeText(ex: ProbeExports, text: string): number {
  const ptr = ex.newText(text.length);
  const units = new Uint16Array(ex.memory.buffer, ptr, text.length);
  for (let i = 0; i < text.length; i++) units[i] = text.charCodeAt(i);
  return ptr;
}

async function wasmProbe(schema: string, instance: string, flags: number): Promise<string> {
  const ex = await instantiate();
  return readText(ex, ex.runProbe(writeText(ex, schema), writeText(ex, instance), flags));
}

const CASES: [unknown, unknown, number][] = [
  [{ type: "object", required: ["id"], properties: { id: { type: "integer" } } }, { id: 1.5 }, 0],
  [{ type: ["string", "null"], minLength: 2, maxLength: 3 }, "\u{1F600}", 0],
  [{ maximum: 2.5, exclusiveMinimum: 0, multipleOf: 0.1 }, 0.3, 0],
  [{ enum: [1, "a", { b: [null] }], const: { b: [null] } }, { b: [null] }, 0],
  [
    { prefixItems: [{ type: "string" }], items: false, uniqueItems: true, minItems: 2 },
    ["a", "a"],
    0,
  ],
  [{ contains: { type: "number" }, minContains: 2, maxContains: 3 }, [1, "x", 2, 3, 4], 0],
  [{
    properties: { "a/b": false },
    additionalProperties: { type: "boolean" },
    propertyNames: { maxLength: 3 },
  }, {
    "a/b": 1,
    long_name: 1,
    c: true,
  }, 0],
  [{
    dependentRequired: { a: ["b"] },
    dependentSchemas: { b: { required: ["c"] } },
    dependencies: { c: ["d"] },
  }, {
    a: 1,
    c: 2,
  }, 0],
  [
    {
      allOf: [{ type: "number" }],
      anyOf: [{ minimum: 5 }, { maximum: 1 }],
      oneOf: [{ type: "integer" }, { multipleOf: 2 }],
      not: { const: 3 },
    },
    4,
    0,
  ],
  [{ if: { type: "string" }, then: { minLength: 2 }, else: { type: "number" } }, true, 0],
  [
    { properties: { a: true }, anyOf: [{ properties: { b: true } }], unevaluatedProperties: false },
    { a: 1, b: 2, c: 3 },
    0,
  ],
  [{ prefixItems: [true], contains: { type: "string" }, unevaluatedItems: { type: "number" } }, [
    0,
    "s",
    null,
    2,
  ], 0],
  [{
    $defs: {
      node: {
        type: "object",
        properties: { v: { type: "number" }, kids: { items: { $ref: "#/$defs/node" } } },
      },
    },
    $ref: "#/$defs/node",
  }, {
    v: 1,
    kids: [{ v: "x", kids: [{ v: true }] }],
  }, 0],
  [
    {
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
    },
    { children: [{ daat: 1 }] },
    0,
  ],
  [{
    properties: {
      n: { type: "number" },
      i: { type: "integer" },
      b: { type: "boolean" },
      s: { type: "string" },
      z: { type: "null" },
    },
  }, {
    n: " 0x1F ",
    i: "1e3",
    b: "true",
    s: 1e21,
    z: 0,
  }, PROBE_COERCE],
  [{ type: "number", maximum: 5 }, "7", PROBE_COERCE],
  [{
    properties: { keep: { properties: { a: true }, additionalProperties: false } },
    additionalProperties: false,
  }, {
    keep: { a: 1, b: 2 },
    drop: 3,
  }, PROBE_FILTER_EXTRA],
  [{
    properties: {
      d: { format: "date" },
      t: { format: "date-time" },
      e: { format: "email" },
      ip: { format: "ipv6" },
    },
  }, {
    d: "2023-02-29",
    t: "2024-01-01T23:59:60Z",
    e: "a@b",
    ip: "::1",
  }, PROBE_ASSERT_FORMATS],
  [{ properties: { a: { minLength: -1 } } }, null, 0],
  [{ $ref: "https://example.com/remote.json" }, null, 0],
  [{ type: "string", pattern: "^a" }, "a", 0],
  [{ type: "string", pattern: "(?=a)" }, "a", 0],
  [{ type: "string", pattern: "a(" }, "a", 0],
  [
    {
      items: { pattern: "^(?:[a-z0-9]+\\.)*[a-z0-9]+@[a-z]+\\.[a-z]{2,}$" },
      prefixItems: [{ pattern: "\\b\\d{2}\\b" }, { pattern: "^\\u{1F600}.$" }],
    },
    ["x 12 y", "\u{1F600}é", "a.b@example.com", "bad@", "\uD800"],
    0,
  ],
  [{
    patternProperties: { "^x-": { type: "string" }, "\\d$": { maximum: 5 } },
    additionalProperties: false,
  }, {
    "x-1": 9,
    n2: 3,
    other: 1,
  }, PROBE_FILTER_EXTRA],
  [false, { "é": "\u{1F600}" }, 0],
];

Deno.test("the wasm build of the validator reports exactly what the native build reports", async () => {
  for (const [schema, instance, flags] of CASES) {
    const s = JSON.stringify(schema);
    const i = JSON.stringify(instance);
    const native = runProbe(s, i, flags);
    assert.equal(await wasmProbe(s, i, flags), native, `${s} on ${i} (flags ${flags})`);
    assert.ok(!native.includes("parseError"), native);
  }
});

Deno.test("the wasm build matches regular expressions like the native build", async () => {
  let seed = 7;
  const next = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const atoms = [
    "a",
    "b",
    "\\d",
    "\\w",
    "\\s",
    ".",
    "[a-c]",
    "[^a]",
    "é",
    "\u{1F600}",
    "\\b",
    "^",
    "$",
  ];
  const quantifiers = ["", "", "*", "+", "?", "{1,2}", "*?"];
  const alphabet = ["a", "b", "c", "1", " ", "é", "\u{1F600}", "\n", "\uD800"];
  for (let i = 0; i < 150; i++) {
    let pattern = "";
    for (let k = 1 + next(4); k > 0; k--) {
      const atom = atoms[next(atoms.length)];
      const quantifiable = atom !== "\\b" && atom !== "^" && atom !== "$";
      pattern += next(5) === 0 ? `(${atom}|${atoms[next(10)]})` : atom;
      if (quantifiable) pattern += quantifiers[next(quantifiers.length)];
    }
    const strings: string[] = [];
    for (let k = 0; k < 12; k++) {
      let text = "";
      for (let n = next(6); n > 0; n--) text += alphabet[next(alphabet.length)];
      strings.push(text);
    }
    const schema = JSON.stringify({ items: { pattern } });
    const instance = JSON.stringify(strings);
    assert.equal(await wasmProbe(schema, instance, 0), runProbe(schema, instance, 0), pattern);
  }
});

Deno.test("the wasm build stops deep recursion with maxDepth instead of trapping", async () => {
  const schema = JSON.stringify({
    $defs: { n: { type: "array", items: { $ref: "#/$defs/n" } } },
    $ref: "#/$defs/n",
  });
  const instance = "[".repeat(3000) + "]".repeat(3000);
  const native = runProbe(schema, instance, 0);
  assert.equal(await wasmProbe(schema, instance, 0), native);
  const report = JSON.parse(native);
  assert.deepEqual(report.errors.map((e: { keyword: string }) => e.keyword), ["maxDepth"]);
});

Deno.test("the wasm build validates a 1 MB instance like the native build", async () => {
  const schema = JSON.stringify({
    type: "array",
    items: {
      type: "object",
      required: ["id", "name"],
      properties: {
        id: { type: "integer", minimum: 0 },
        name: { type: "string", maxLength: 20 },
        tags: { type: "array", items: { enum: ["a", "b", "c"] }, uniqueItems: true },
      },
      additionalProperties: false,
    },
  });
  const items = [];
  for (let i = 0; items.length < 16000; i++) {
    items.push({
      id: i % 997 === 0 ? -i : i,
      name: `item-${i}-${"x".repeat(i % 30)}`,
      tags: i % 50 === 0 ? ["a", "a"] : ["a", "c"],
    });
  }
  const instance = JSON.stringify(items);
  assert.ok(instance.length > 1_000_000, `${instance.length} bytes`);
  const native = runProbe(schema, instance, 0);
  assert.equal(await wasmProbe(schema, instance, 0), native);
  const report = JSON.parse(native);
  assert.equal(report.valid, false);
  assert.ok(report.errors.length > 100);
});
