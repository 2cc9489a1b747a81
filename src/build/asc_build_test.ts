import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AscBuildError, buildAssemblyScript, formatDiagnostic } from "./asc_build.ts";

const GREET = fileURLToPath(new URL("../../catalog/examples/greet/greet.ts", import.meta.url));

/** Writes `files` into a fresh temporary folder and returns its path. */
async function sourceDir(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "asc_build_test_" });
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(join(dir, name), text);
  return dir;
}

const SMALL = `export function run(): i32 {
  return 0;
}
`;

Deno.test("buildAssemblyScript() gives byte-identical output for two builds of the same guest", async () => {
  const first = await buildAssemblyScript(GREET);
  const second = await buildAssemblyScript(GREET);
  assert.ok(first.binary.length > 100);
  assert.deepEqual(second.binary, first.binary);
  assert.deepEqual(second.args, first.args);
});

Deno.test("buildAssemblyScript() output does not depend on the folder the sources live in", async () => {
  const files = {
    "main.ts": `import { twice } from "./lib";
export function run(): i32 {
  assert(twice(2) == 4, "arithmetic broke");
  return 0;
}
`,
    "lib.ts": "export function twice(x: i32): i32 { return x * 2; }\n",
  };
  const a = await sourceDir(files);
  const b = await sourceDir(files);
  try {
    const built = await buildAssemblyScript(join(a, "main.ts"));
    const again = await buildAssemblyScript(join(b, "main.ts"));
    assert.deepEqual(again.binary, built.binary);
    assert.deepEqual(built.sources, [join(a, "main.ts"), join(a, "lib.ts")]);
  } finally {
    await Deno.remove(a, { recursive: true });
    await Deno.remove(b, { recursive: true });
  }
});

Deno.test("buildAssemblyScript() reports a syntax error with the file, line and column", async () => {
  const dir = await sourceDir({
    "bad.ts": `export function run(): i32 {
  let x: i32 = 1;
  x +== 2;
  return x;
}
`,
  });
  const entry = join(dir, "bad.ts");
  try {
    const error = await buildAssemblyScript(entry).then(
      () => assert.fail("expected the build to fail"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof AscBuildError);
    assert.equal(error.code, "build_failed");
    assert.equal(error.entry, entry);
    const first = error.diagnostics[0];
    assert.equal(first.category, "error");
    assert.equal(first.file, entry);
    assert.equal(first.line, 3);
    assert.equal(first.column, 7);
    assert.equal(typeof first.code, "number");
    assert.ok(error.message.includes(`${entry}:3:7 - error TS${first.code}`), error.message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("buildAssemblyScript() reports a type error in an imported file at that file's line", async () => {
  const dir = await sourceDir({
    "main.ts": `import { name } from "./lib";
export function run(): i32 {
  return name().length;
}
`,
    "lib.ts": `export function name(): string {
  const n: i32 = "not a number";
  return "x" + n.toString();
}
`,
  });
  try {
    const error = await buildAssemblyScript(join(dir, "main.ts")).then(
      () => assert.fail("expected the build to fail"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof AscBuildError);
    const errors = error.diagnostics.filter((d) => d.category === "error");
    assert.equal(errors.length, 1);
    assert.equal(errors[0].file, join(dir, "lib.ts"));
    assert.equal(errors[0].line, 2);
    assert.ok(error.message.includes(formatDiagnostic(errors[0])));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("buildAssemblyScript() reports an import of a missing file", async () => {
  const dir = await sourceDir({
    "main.ts": `import { gone } from "./missing";
export function run(): i32 {
  return gone();
}
`,
  });
  try {
    const error = await buildAssemblyScript(join(dir, "main.ts")).then(
      () => assert.fail("expected the build to fail"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof AscBuildError);
    const first = error.diagnostics.find((d) => d.category === "error");
    assert.equal(first?.file, join(dir, "main.ts"));
    assert.equal(first?.line, 1);
    assert.ok(/missing/.test(first?.message ?? ""), first?.message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("buildAssemblyScript() reports a missing entry with its absolute path", async () => {
  const error = await buildAssemblyScript("no/such/guest.ts").then(
    () => assert.fail("expected the build to fail"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof AscBuildError);
  assert.equal(error.diagnostics[0].code, 6054);
  assert.ok(error.message.includes(join(Deno.cwd(), "no/such/guest.ts")), error.message);
});

Deno.test("buildAssemblyScript() ignores an asconfig.json next to the entry", async () => {
  const plain = await sourceDir({ "main.ts": SMALL });
  const configured = await sourceDir({
    "main.ts": SMALL,
    "asconfig.json": JSON.stringify({
      options: { runtime: "incremental", exportRuntime: true, importMemory: true },
    }),
  });
  try {
    const expected = await buildAssemblyScript(join(plain, "main.ts"));
    const built = await buildAssemblyScript(join(configured, "main.ts"));
    assert.deepEqual(built.binary, expected.binary);
    const module = new WebAssembly.Module(built.binary);
    assert.ok(!WebAssembly.Module.imports(module).some((i) => i.name === "memory"));
  } finally {
    await Deno.remove(plain, { recursive: true });
    await Deno.remove(configured, { recursive: true });
  }
});

Deno.test("buildAssemblyScript() exports the start function as _initialize and the memory", async () => {
  const dir = await sourceDir({
    "main.ts": `const table: i32[] = [1, 2, 3];
export function run(): i32 {
  return table[2] - 3;
}
`,
  });
  try {
    const { binary, text } = await buildAssemblyScript(join(dir, "main.ts"), { text: true });
    const exports = WebAssembly.Module.exports(new WebAssembly.Module(binary))
      .map((e) => `${e.kind}:${e.name}`).sort();
    assert.deepEqual(exports, ["function:_initialize", "function:run", "memory:memory"]);
    assert.ok(
      text !== undefined && !/\(start /.test(text),
      "the module must not have a start section",
    );
    assert.ok(!/"__new"|"__pin"|"__collect"/.test(text ?? ""), "the runtime must not be exported");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("buildAssemblyScript() builds the incremental runtime only when asked", async () => {
  const stub = await buildAssemblyScript(GREET);
  const incremental = await buildAssemblyScript(GREET, { runtime: "incremental" });
  assert.ok(stub.args.includes("stub"));
  assert.ok(incremental.args.includes("incremental"));
  // TLSF and the collector are code the stub runtime does not carry.
  assert.ok(incremental.binary.length > stub.binary.length + 1000);
  const imports = (bytes: Uint8Array<ArrayBuffer>) =>
    WebAssembly.Module.imports(new WebAssembly.Module(bytes)).map((i) => `${i.module}.${i.name}`)
      .sort();
  assert.deepEqual(imports(incremental.binary), imports(stub.binary));
});

Deno.test("buildAssemblyScript() rejects an entry that is not a .ts file", async () => {
  await assert.rejects(buildAssemblyScript("guest.wasm"), TypeError);
  await assert.rejects(
    buildAssemblyScript(GREET, { runtime: "minimal" as never }),
    TypeError,
  );
});

Deno.test("buildAssemblyScript() compiles a lib directory's @global functions into the guest", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/lib`);
    await Deno.writeTextFile(
      `${dir}/lib/answer.ts`,
      "@global\nexport function answer(): i32 { return 42; }\n",
    );
    await Deno.writeTextFile(
      `${dir}/lib/b_second.ts`,
      "@global\nexport function second(): i32 { return 2; }\n",
    );
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      "export function run(): i32 { return answer() + second(); }\n",
    );
    const { binary, args } = await buildAssemblyScript(`${dir}/main.ts`, { lib: `${dir}/lib` });
    assert.ok(args.includes("--lib"));
    const instance = new WebAssembly.Instance(new WebAssembly.Module(binary), {
      env: { abort: () => {} },
    });
    (instance.exports._initialize as () => void)();
    assert.equal((instance.exports.run as () => number)(), 44);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
