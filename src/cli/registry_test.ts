/**
 * `deno task registry` end to end: real CLI processes against a registry in
 * a temporary directory.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { sha256Hex } from "../runtime/runtime.ts";
import { wat } from "../../tests/support/wat.ts";
import { main } from "./registry.ts";

const CLI = new URL("./registry.ts", import.meta.url).pathname;
const dir = await Deno.makeTempDir({ prefix: "registry_cli_test_" });
const decoder = new TextDecoder();
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

async function registryCli(args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", CLI, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = decoder.decode(stdout);
  return { code, out, err: decoder.decode(stderr), json: () => JSON.parse(out) };
}

async function write(name: string, content: Uint8Array | unknown): Promise<string> {
  const path = join(dir, name);
  if (content instanceof Uint8Array) await Deno.writeFile(path, content);
  else {await Deno.writeTextFile(
      path,
      typeof content === "string" ? content : JSON.stringify(content),
    );}
  return path;
}

const guest = (n: number) =>
  wat(`(module (memory (export "memory") 1) (func (export "run") (result i32) (i32.const ${n})))`);
const GUEST = await write("guest.wasm", guest(0));
const OTHER = await write("other.wasm", guest(1));
const MANIFEST = await write("manifest.json", { capabilities: { io: {}, log: {} } });
const SCHEMA = await write("config.schema.json", {
  type: "object",
  required: ["filter"],
  properties: { filter: { type: "string" } },
});

async function freshRegistry(): Promise<string> {
  return await Deno.makeTempDir({ dir, prefix: "registry-" });
}

function publishArgs(registry: string, version: string, module = GUEST): string[] {
  return [
    "publish",
    module,
    "--name",
    "catalog.transform",
    "--version",
    version,
    "--manifest",
    MANIFEST,
    "--registry",
    registry,
  ];
}

Deno.test("registry --help and each command's --help print usage and exit 0", async () => {
  for (const args of [["--help"], ["publish", "--help"], ["list", "-h"], ["show", "--help"]]) {
    const r = await registryCli(args);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^Usage: deno task registry /, args.join(" "));
  }
  assert.match((await registryCli(["publish", "--help"])).out, /--config-schema <file>/);
  assert.match((await registryCli(["show", "--help"])).out, /catalog\.transform@\^1/);
});

Deno.test("registry publish, list and show round-trip and exit 0", async () => {
  const registry = await freshRegistry();
  let r = await registryCli([
    ...publishArgs(registry, "1.0.0"),
    "--config-schema",
    SCHEMA,
    "--description",
    "Reshapes data",
  ]);
  assert.equal(r.code, 0, r.err);
  const sha256 = await sha256Hex(guest(0));
  assert.match(r.out, new RegExp(`^published catalog\\.transform@1\\.0\\.0 \\(sha256 ${sha256}, `));

  r = await registryCli([...publishArgs(registry, "1.1.0-rc.1", OTHER), "--json"]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.json().status, "published");
  assert.equal(r.json().metadata.version, "1.1.0-rc.1");

  r = await registryCli(["list", "--registry", registry, "--json"]);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(r.json(), [
    { name: "catalog.transform", versions: ["1.0.0", "1.1.0-rc.1"], latest: "1.0.0" },
  ]);
  r = await registryCli(["list", "--registry", registry]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.trim(), "catalog.transform  1.0.0, 1.1.0-rc.1  (latest: 1.0.0)");

  r = await registryCli(["show", "catalog.transform@^1", "--registry", registry, "--json"]);
  assert.equal(r.code, 0, r.err);
  const shown = r.json();
  assert.equal(shown.version, "1.0.0");
  assert.equal(shown.sha256, sha256);
  assert.equal(shown.description, "Reshapes data");
  assert.deepEqual(shown.config_schema.required, ["filter"]);
  assert.deepEqual(shown.manifest, { capabilities: { io: {}, log: {} } });
  assert.deepEqual(shown.versions, ["1.0.0", "1.1.0-rc.1"]);

  r = await registryCli(["show", "catalog.transform@^1.1.0-rc.0", "--registry", registry]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^catalog\.transform@1\.1\.0-rc\.1\n/);
  assert.match(r.out, /capabilities: +io, log/);
  assert.match(r.out, /\(verified\)/);
});

Deno.test("registry publish is a no-op for identical content and exits 1 on a conflict", async () => {
  const registry = await freshRegistry();
  assert.equal((await registryCli(publishArgs(registry, "2.0.0"))).code, 0);
  let r = await registryCli(publishArgs(registry, "2.0.0"));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^unchanged catalog\.transform@2\.0\.0: identical content/);
  r = await registryCli(publishArgs(registry, "2.0.0", OTHER));
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /Cannot publish catalog\.transform@2\.0\.0 as that version is already published with different sha256/,
  );
  r = await registryCli(["show", "catalog.transform@2.0.0", "--registry", registry, "--json"]);
  assert.equal(r.json().sha256, await sha256Hex(guest(0)));
});

Deno.test("registry show exits 1 for a tampered module and for versions that are not published", async () => {
  const registry = await freshRegistry();
  assert.equal((await registryCli(publishArgs(registry, "1.0.0"))).code, 0);
  let r = await registryCli(["show", "catalog.transform@^2", "--registry", registry]);
  assert.equal(r.code, 1);
  assert.match(r.err, /available versions are 1\.0\.0/);
  r = await registryCli(["show", "catalog.nothing", "--registry", registry]);
  assert.equal(r.code, 1);
  const blob = join(registry, "blobs", "sha256", `${await sha256Hex(guest(0))}.wasm`);
  await Deno.writeFile(blob, guest(7));
  r = await registryCli(["show", "catalog.transform", "--registry", registry]);
  assert.equal(r.code, 1);
  assert.match(r.err, /does not match the digest/);
  assert.equal(r.out, "");
});

Deno.test("registry exits 2 for usage errors and invalid input, naming the problem", async () => {
  const registry = await freshRegistry();
  const badJson = await write("bad.json", "{ nope");
  const badManifest = await write("bad-manifest.json", { capabilities: { teleport: {} } });
  const badSchema = await write("bad-schema.json", { type: 12 });
  const fetcher = await write(
    "fetcher.wasm",
    wat(`(module (import "http" "fetch" (func (param i32 i32) (result i32)))
      (memory (export "memory") 1) (func (export "run") (result i32) (i32.const 0)))`),
  );
  const cases: [string[], RegExp][] = [
    [[], /a command is needed/],
    [["frobnicate"], /must be publish, list or show: current value is "frobnicate"/],
    [["list", "--bogus"], /Unknown option '--bogus'/],
    [["list", "extra"], /list takes no arguments/],
    [["show", "--registry", registry], /exactly one <name>\[@<version or range>\] is needed/],
    [["show", "Catalog.Transform", "--registry", registry], /its name part must be/],
    [["show", "catalog.transform@latest", "--registry", registry], /its version part must be/],
    [
      ["publish", GUEST, "--version", "1.0.0", "--manifest", MANIFEST, "--registry", registry],
      /--name is required/,
    ],
    [
      ["publish", "--name", "x", "--version", "1.0.0", "--manifest", MANIFEST],
      /exactly one module file/,
    ],
    [publishArgs(registry, "1.0"), /Cannot use version as it must be a SemVer 2\.0 version/],
    [publishArgs(registry, "1.0.0+build.1"), /current value is "1\.0\.0\+build\.1"/],
    [[
      ...publishArgs(registry, "1.0.0").slice(0, 1),
      join(dir, "missing.wasm"),
      ...publishArgs(registry, "1.0.0").slice(2),
    ], /Cannot read module/],
    [
      publishArgs(registry, "1.0.0").map((a) => (a === MANIFEST ? badJson : a)),
      /Cannot parse manifest .* as JSON/,
    ],
    [
      publishArgs(registry, "1.0.0").map((a) => (a === MANIFEST ? badManifest : a)),
      /capabilities\.teleport: unknown capability/,
    ],
    [[...publishArgs(registry, "1.0.0"), "--config-schema", badSchema], /not a valid JSON Schema/],
    [
      [...publishArgs(registry, "1.0.0"), "--description", "x".repeat(2001)],
      /--description must be at most 2000 characters/,
    ],
    [publishArgs(registry, "1.0.0").map((a) => (a === GUEST ? MANIFEST : a)), /not WebAssembly/],
    [
      publishArgs(registry, "1.0.0").map((a) => (a === GUEST ? fetcher : a)),
      /needs capability "http", which the manifest does not grant/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await registryCli(args);
    assert.equal(r.code, 2, `${args.join(" ")}\n${r.err}`);
    assert.match(r.err, message, args.join(" "));
  }
  assert.deepEqual((await registryCli(["list", "--registry", registry, "--json"])).json(), []);
});

Deno.test("registry publishes under $WASM_BROKER_DATA_DIR/registry when --registry is not given", async () => {
  const data = await freshRegistry();
  const args = publishArgs("unused", "1.0.0").slice(0, -2);
  const r = await registryCli(args, { WASM_BROKER_DATA_DIR: data });
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.endsWith(`in ${join(data, "registry")}\n`), r.out);
  await Deno.stat(join(data, "registry", "guests", "catalog.transform", "1.0.0.json"));
});

Deno.test("racing publisher processes of one version: exactly one wins, the others exit 1", async () => {
  const registry = await freshRegistry();
  const modules = await Promise.all(
    [10, 11, 12, 13].map((n) => write(`race-${n}.wasm`, guest(n))),
  );
  const results = await Promise.all(
    modules.map((module) => registryCli(publishArgs(registry, "3.0.0", module))),
  );
  assert.deepEqual(
    results.map((r) => r.code).sort(),
    [0, 1, 1, 1],
    results.map((r) => r.err).join("\n"),
  );
  const winner = modules[results.findIndex((r) => r.code === 0)];
  for (const r of results.filter((r) => r.code === 1)) {
    assert.match(r.err, /already published with different sha256/);
  }
  const shown = await registryCli([
    "show",
    "catalog.transform@3.0.0",
    "--registry",
    registry,
    "--json",
  ]);
  assert.equal(shown.code, 0, shown.err);
  assert.equal(shown.json().sha256, await sha256Hex(await Deno.readFile(winner)));
  const blobs = [];
  for await (const item of Deno.readDir(join(registry, "blobs", "sha256"))) blobs.push(item.name);
  assert.equal(blobs.length, 1);
  const leftovers = [];
  for await (const item of Deno.readDir(join(registry, "tmp"))) leftovers.push(item.name);
  assert.deepEqual(leftovers, []);
});

Deno.test("main() reports refusals and usage errors through its io without a process", async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
  const registry = await freshRegistry();
  assert.equal(await main(["show", "catalog.transform", "--registry", registry], io), 1);
  assert.match(err.join("\n"), /no guest named "catalog\.transform" is published/);
  assert.equal(await main(["list", "--registry", registry], io), 0);
  assert.equal(out.at(-1), `no guests published in ${registry}`);
});
