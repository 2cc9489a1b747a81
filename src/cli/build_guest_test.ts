import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildAssemblyScript } from "../build/asc_build.ts";
import { main } from "./build_guest.ts";

const ECHO = fileURLToPath(new URL("../../catalog/examples/echo/echo.ts", import.meta.url));

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

Deno.test("build_guest --help prints the usage and exits 0", async () => {
  const { out, io } = capture();
  assert.equal(await main(["--help"], io), 0);
  assert.match(out.join("\n"), /^Usage: deno run -A src\/cli\/build_guest\.ts <entry\.ts>/);
});

Deno.test("build_guest writes the module buildAssemblyScript() builds and names its capabilities", async () => {
  const dir = await Deno.makeTempDir({ prefix: "build_guest_test_" });
  try {
    const { out, err, io } = capture();
    const wasm = join(dir, "nested", "echo.wasm");
    const wat = join(dir, "echo.wat");
    assert.equal(await main([ECHO, "-o", wasm, "--text", wat], io), 0);
    assert.deepEqual(err, []);
    const expected = await buildAssemblyScript(ECHO);
    assert.deepEqual(await Deno.readFile(wasm), expected.binary);
    assert.match(await Deno.readTextFile(wat), /^\(module/);
    assert.match(
      out[0],
      new RegExp(`^built ${wasm}: ${expected.binary.length} bytes, sha256 [0-9a-f]{64}`),
    );
    assert.equal(out[1], "imports: env.abort, io.input_len, io.read_input, io.write_output");
    assert.equal(out[2], "capabilities to grant: io");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build_guest exits 1 and prints file:line when the sources do not compile", async () => {
  const dir = await Deno.makeTempDir({ prefix: "build_guest_test_" });
  try {
    const entry = join(dir, "bad.ts");
    await Deno.writeTextFile(entry, "export function run(): i32 {\n  return nope;\n}\n");
    const { err, io } = capture();
    assert.equal(await main([entry, "-o", join(dir, "bad.wasm")], io), 1);
    assert.match(
      err.join("\n"),
      new RegExp(`${entry}:2:10 - error TS\\d+: Cannot find name 'nope'`),
    );
    await assert.rejects(Deno.stat(join(dir, "bad.wasm")), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build_guest exits 2 on missing entries, unknown options and bad runtimes", async () => {
  for (
    const args of [[], [ECHO, ECHO], [ECHO, "--bogus"], [ECHO, "--runtime", "minimal"], ["x.wasm"]]
  ) {
    const { out, err, io } = capture();
    assert.equal(await main(args, io), 2, JSON.stringify(args));
    assert.deepEqual(out, []);
    assert.match(err[0], /^(Cannot build|Unknown option)/);
  }
});
