import assert from "node:assert/strict";
import { join } from "node:path";
import { ManifestError, UnknownImportError, WasmBrokerError } from "../errors.ts";
import { sha256Hex } from "../runtime/runtime.ts";
import { echoGuest } from "../../tests/support/test_guests.ts";
import { wat } from "../../tests/support/wat.ts";
import { FileRegistry, type FileRegistryOptions, type PublishEntry } from "./file_registry.ts";
import type { GuestMetadata } from "./guest_metadata.ts";
import { RegistryError, type RegistryErrorCode } from "./registry_error.ts";

const NOOP = wat(`(module
  (memory (export "memory") 1)
  (func (export "run") (result i32) (i32.const 0)))`);
const ECHO = echoGuest();
/** A module that differs from NOOP only in what it returns. */
const noopReturning = (n: number) =>
  wat(`(module (memory (export "memory") 1) (func (export "run") (result i32) (i32.const ${n})))`);

const IO = { capabilities: { io: {} } };
const FIXED_NOW = new Date("2025-06-01T10:00:00.000Z");

async function withRegistry(
  fn: (registry: FileRegistry, root: string) => Promise<void>,
  options: FileRegistryOptions = {},
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "file_registry_test_" });
  try {
    await fn(new FileRegistry(root, { now: () => FIXED_NOW, ...options }), root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function entry(overrides: Partial<PublishEntry> = {}): PublishEntry {
  return { name: "catalog.echo", version: "1.0.0", module: ECHO, manifest: IO, ...overrides };
}

function isRegistryError(
  code: RegistryErrorCode,
  check: (error: RegistryError) => void = () => {},
) {
  return (error: unknown) => {
    assert.ok(error instanceof RegistryError, `expected RegistryError, got ${error}`);
    assert.equal(error.code, code, error.message);
    check(error);
    return true;
  };
}

async function tree(root: string, dir = ""): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const item of Deno.readDir(join(root, dir))) {
      const path = dir ? `${dir}/${item.name}` : item.name;
      if (item.isDirectory) out.push(...await tree(root, path));
      else out.push(path);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return out.sort();
}

const versionsOf = (records: GuestMetadata[]) => records.map((r) => r.version);

Deno.test("publish() stores the module by digest and one immutable record per version", async () => {
  await withRegistry(async (registry, root) => {
    const sha256 = await sha256Hex(ECHO);
    const result = await registry.publish(entry({
      configSchema: { type: "object", properties: { field: { type: "string" } } },
      description: "Echoes its input",
    }));
    const expected: GuestMetadata = {
      name: "catalog.echo",
      version: "1.0.0",
      sha256,
      size: ECHO.length,
      manifest: IO,
      config_schema: { type: "object", properties: { field: { type: "string" } } },
      description: "Echoes its input",
      published_at: FIXED_NOW.toISOString(),
    };
    assert.deepEqual(result, { status: "published", metadata: expected });
    assert.deepEqual(await tree(root), [
      `blobs/sha256/${sha256}.wasm`,
      "guests/catalog.echo/1.0.0.json",
    ]);
    assert.deepEqual(await Deno.readFile(registry.blobPath(sha256)), ECHO);
    assert.deepEqual(
      JSON.parse(await Deno.readTextFile(join(root, "guests/catalog.echo/1.0.0.json"))),
      expected,
    );
  });
});

Deno.test("list(), versions(), show() and resolve() see several versions of a name side by side", async () => {
  await withRegistry(async (registry) => {
    for (const version of ["1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1"]) {
      await registry.publish(entry({ version }));
    }
    await registry.publish(entry({ name: "catalog.noop", version: "0.1.0", module: NOOP }));
    await registry.publish(entry({ name: "catalog.beta", version: "3.0.0-beta.2", module: NOOP }));
    assert.deepEqual(await registry.list(), [
      { name: "catalog.beta", versions: ["3.0.0-beta.2"] },
      {
        name: "catalog.echo",
        versions: ["1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1"],
        latest: "1.10.0",
      },
      { name: "catalog.noop", versions: ["0.1.0"], latest: "0.1.0" },
    ]);
    assert.deepEqual(versionsOf(await registry.versions("catalog.echo")), [
      "1.0.0",
      "1.2.0",
      "1.10.0",
      "2.0.0-rc.1",
    ]);
    assert.deepEqual(await registry.versions("catalog.unknown"), []);
    assert.equal((await registry.show("catalog.echo")).version, "1.10.0");
    assert.equal((await registry.show("catalog.echo", "2.0.0-rc.1")).version, "2.0.0-rc.1");
    const table: [string, string][] = [
      ["catalog.echo", "1.10.0"],
      ["catalog.echo@1.2.0", "1.2.0"],
      ["catalog.echo@~1.2", "1.2.0"],
      ["catalog.echo@^1", "1.10.0"],
      ["catalog.echo@>=1.0.0 <1.5", "1.2.0"],
      ["catalog.echo@^2.0.0-rc.0", "2.0.0-rc.1"],
      ["catalog.echo@2.0.0-rc.1", "2.0.0-rc.1"],
      ["catalog.beta@3.0.0-beta.2", "3.0.0-beta.2"],
      ["catalog.noop@0", "0.1.0"],
    ];
    for (const [callable, version] of table) {
      const resolved = await registry.resolve(callable);
      assert.equal(resolved.version, version, callable);
      assert.ok(
        Object.isFrozen(resolved) && Object.isFrozen(resolved.manifest),
        "shared records are frozen",
      );
      assert.equal(
        resolved.sha256,
        await sha256Hex(callable.startsWith("catalog.echo") ? ECHO : NOOP),
      );
    }
  });
});

Deno.test("resolve() explains what did not match and lists the published versions", async () => {
  await withRegistry(async (registry, root) => {
    await registry.publish(entry({ version: "1.0.0" }));
    await registry.publish(entry({ version: "2.0.0-rc.1" }));
    await registry.publish(entry({ name: "catalog.pre", version: "1.0.0-rc.1" }));
    const available = ["1.0.0", "2.0.0-rc.1"];
    for (const callable of ["catalog.echo@^2", "catalog.echo@1.5.0", "catalog.echo@>=3"]) {
      await assert.rejects(
        registry.resolve(callable),
        isRegistryError("not_found", (e) => {
          assert.deepEqual(e.details, { callable, name: "catalog.echo", available });
          assert.match(e.message, /available versions are 1\.0\.0, 2\.0\.0-rc\.1$/);
        }),
      );
    }
    await assert.rejects(
      registry.resolve("catalog.pre"),
      isRegistryError("not_found", (e) => assert.deepEqual(e.details.available, ["1.0.0-rc.1"])),
    );
    await assert.rejects(
      registry.resolve("catalog.missing@^1"),
      isRegistryError("not_found", (e) => {
        assert.deepEqual(e.details.available, []);
        assert.ok(e.message.includes(root));
      }),
    );
    await assert.rejects(registry.show("catalog.echo", "1.1.0"), isRegistryError("not_found"));
  });
});

Deno.test("resolve(), show() and load() refuse malformed callables, names and versions", async () => {
  await withRegistry(async (registry) => {
    const parts: [Promise<unknown>, string][] = [
      [registry.resolve("Catalog.Echo"), "name"],
      [registry.resolve("catalog.echo@latest"), "version"],
      [registry.resolve("catalog.echo@"), "version"],
      [registry.resolve(""), "callable"],
      [registry.show("catalog/echo"), "name"],
      [registry.show("catalog.echo", "^1"), "version"],
      [registry.load("catalog.echo", "1.0"), "version"],
      [registry.versions("../x"), "name"],
    ];
    for (const [promise, part] of parts) {
      await assert.rejects(
        promise,
        isRegistryError("callable_invalid", (e) => assert.equal(e.details.part, part)),
      );
    }
  });
});

Deno.test("publish() of identical content again is an unchanged no-op that keeps the original record", async () => {
  await withRegistry(async (registry, root) => {
    const first = await registry.publish(entry({ configSchema: { type: "object" } }));
    const later = new FileRegistry(root, { now: () => new Date("2030-01-01T00:00:00Z") });
    // Same content, keys in another order: still identical.
    const again = await later.publish(entry({
      manifest: { capabilities: { io: {} } },
      configSchema: { type: "object" },
      module: new Uint8Array(ECHO),
    }));
    assert.deepEqual(again, { status: "unchanged", metadata: first.metadata });
    assert.equal(again.metadata.published_at, FIXED_NOW.toISOString());
    assert.equal((await registry.versions("catalog.echo")).length, 1);
  });
});

Deno.test("publish() refuses the same version with different bytes, manifest, config schema or description", async () => {
  await withRegistry(async (registry, root) => {
    await registry.publish(entry({ description: "Echo", configSchema: { type: "object" } }));
    const before = await tree(root);
    const recordBefore = await Deno.readTextFile(join(root, "guests/catalog.echo/1.0.0.json"));
    const attempts: [Partial<PublishEntry>, string[]][] = [
      [{ module: NOOP }, ["sha256", "size"]],
      [{ manifest: { capabilities: { io: {}, log: {} } } }, ["manifest"]],
      [{ configSchema: { type: "array" } }, ["config_schema"]],
      [{ configSchema: undefined }, ["config_schema"]],
      [{ description: "Echo v2" }, ["description"]],
    ];
    for (const [change, fields] of attempts) {
      await assert.rejects(
        registry.publish(
          entry({ description: "Echo", configSchema: { type: "object" }, ...change }),
        ),
        isRegistryError("version_conflict", (e) => {
          assert.deepEqual(e.details.fields, fields);
          assert.equal(e.details.name, "catalog.echo");
          assert.equal(e.details.version, "1.0.0");
        }),
      );
    }
    // Refused publishes write nothing: not even the other module's blob.
    assert.deepEqual(await tree(root), before);
    assert.equal(
      await Deno.readTextFile(join(root, "guests/catalog.echo/1.0.0.json")),
      recordBefore,
    );
  });
});

Deno.test("publish() validates name, version, manifest, module and config schema before writing", async () => {
  await withRegistry(async (registry, root) => {
    const invalid: [Partial<PublishEntry>, (error: unknown) => boolean][] = [
      [{ name: "Catalog" }, isRegistryError("callable_invalid")],
      [{ name: "catalog..echo" }, isRegistryError("callable_invalid")],
      [{ version: "1.0" }, isRegistryError("callable_invalid")],
      [{ version: "1.0.0+build.7" }, isRegistryError("callable_invalid")],
      [{ version: "v1.0.0" }, isRegistryError("callable_invalid")],
      [{ manifest: { capabilities: { nope: {} } } }, (e) => {
        assert.ok(e instanceof ManifestError);
        assert.deepEqual(e.issues.map((i) => i.path), ["capabilities.nope"]);
        return true;
      }],
      [{ manifest: "io" }, (e) => e instanceof ManifestError],
      [{ manifest: {} }, (e) => {
        // The echo guest imports io, which an empty manifest does not grant.
        assert.ok(e instanceof UnknownImportError);
        assert.equal(e.module, "io");
        return true;
      }],
      [{ module: new Uint8Array([0, 97, 115, 109, 9, 9, 9, 9]) }, (e) => {
        assert.ok(e instanceof WasmBrokerError);
        assert.equal(e.code, "module_invalid");
        return true;
      }],
      [{
        module: wat(
          `(module (memory (export "memory") 64) (func (export "run") (result i32) (i32.const 0)))`,
        ),
        manifest: { capabilities: {}, limits: { memory: "1MiB" } },
      }, (e) => {
        assert.ok(e instanceof WasmBrokerError);
        assert.equal(e.code, "memory_limit");
        return true;
      }],
      [{ configSchema: [] }, isRegistryError("config_schema_invalid")],
      [{ configSchema: true }, isRegistryError("config_schema_invalid")],
      [{ configSchema: null }, isRegistryError("config_schema_invalid")],
      [{ configSchema: { type: 12 } }, isRegistryError("config_schema_invalid")],
      [{ configSchema: { $ref: "#/$defs/missing" } }, isRegistryError("config_schema_invalid")],
      [{ description: "x".repeat(2001) }, (e) => e instanceof RangeError],
    ];
    for (const [change, check] of invalid) {
      await assert.rejects(registry.publish(entry(change)), check, JSON.stringify(change));
    }
    assert.deepEqual(await tree(root), []);
    assert.deepEqual(await registry.list(), []);
  });
});

Deno.test("load() returns bytes that hash to the recorded digest", async () => {
  await withRegistry(async (registry) => {
    const { metadata } = await registry.publish(entry());
    const loaded = await registry.load("catalog.echo", "1.0.0");
    assert.deepEqual(loaded.metadata, metadata);
    assert.deepEqual(loaded.bytes, ECHO);
    await assert.rejects(registry.load("catalog.echo", "9.9.9"), isRegistryError("not_found"));
  });
});

Deno.test("load() refuses a tampered blob with digest_mismatch and never returns its bytes", async () => {
  await withRegistry(async (registry) => {
    const { metadata } = await registry.publish(entry());
    const blob = registry.blobPath(metadata.sha256);
    const tampered = new Uint8Array(ECHO);
    tampered[tampered.length - 2] ^= 1; // a different constant or opcode, same size
    await Deno.writeFile(blob, tampered);
    const tamperedSha256 = await sha256Hex(tampered);
    await assert.rejects(
      registry.load("catalog.echo", "1.0.0"),
      isRegistryError("digest_mismatch", (e) => {
        assert.equal(e.details.expected, metadata.sha256);
        assert.equal(e.details.actual, tamperedSha256);
        assert.equal(e.details.path, blob);
      }),
    );
    await Deno.writeFile(blob, ECHO.subarray(0, 20));
    await assert.rejects(
      registry.load("catalog.echo", "1.0.0"),
      isRegistryError("digest_mismatch"),
    );
    await Deno.remove(blob);
    await assert.rejects(
      registry.load("catalog.echo", "1.0.0"),
      isRegistryError("registry_invalid", (e) => assert.equal(e.details.path, blob)),
    );
  });
});

Deno.test("publishing the same bytes again rewrites a damaged blob, which repairs older versions", async () => {
  await withRegistry(async (registry) => {
    const { metadata } = await registry.publish(entry({ version: "1.0.0" }));
    await Deno.writeFile(registry.blobPath(metadata.sha256), new Uint8Array([1, 2, 3]));
    await assert.rejects(
      registry.load("catalog.echo", "1.0.0"),
      isRegistryError("digest_mismatch"),
    );
    await registry.publish(entry({ version: "1.0.1" }));
    assert.deepEqual((await registry.load("catalog.echo", "1.0.0")).bytes, ECHO);
  });
});

Deno.test("versions with the same bytes share one blob", async () => {
  await withRegistry(async (registry, root) => {
    await registry.publish(entry({ version: "1.0.0" }));
    await registry.publish(entry({ version: "1.0.1", description: "same module, new text" }));
    await registry.publish(entry({ name: "catalog.echo2", version: "1.0.0" }));
    const blobs = (await tree(root)).filter((p) => p.startsWith("blobs/"));
    assert.deepEqual(blobs, [`blobs/sha256/${await sha256Hex(ECHO)}.wasm`]);
  });
});

Deno.test("racing publishers of one version with different bytes: exactly one wins, the rest conflict", async () => {
  await withRegistry(async (_registry, root) => {
    const modules = Array.from({ length: 6 }, (_, i) => noopReturning(i));
    const outcomes = await Promise.allSettled(modules.map((module) =>
      // One instance each, as separate broker/CLI processes would have.
      new FileRegistry(root).publish(entry({ name: "catalog.race", module, manifest: {} }))
    ));
    const won = outcomes.filter((o) => o.status === "fulfilled");
    assert.equal(won.length, 1);
    for (const o of outcomes) {
      if (o.status === "rejected") {
        isRegistryError("version_conflict")(o.reason);
      }
    }
    const winner = modules[outcomes.indexOf(won[0])];
    const loaded = await new FileRegistry(root).load("catalog.race", "1.0.0");
    assert.deepEqual(loaded.bytes, winner);
    // Only the winner's blob is stored and no temporary file or lock is left behind.
    assert.deepEqual(await tree(root), [
      `blobs/sha256/${await sha256Hex(winner)}.wasm`,
      "guests/catalog.race/1.0.0.json",
    ]);
  });
});

Deno.test("racing publishers of identical content: one publishes, the others report unchanged", async () => {
  await withRegistry(async (_registry, root) => {
    const results = await Promise.all(
      Array.from({ length: 6 }, () => new FileRegistry(root).publish(entry())),
    );
    assert.deepEqual(results.map((r) => r.status).sort(), [
      "published",
      "unchanged",
      "unchanged",
      "unchanged",
      "unchanged",
      "unchanged",
    ]);
    assert.equal(new Set(results.map((r) => r.metadata.published_at)).size, 1);
  });
});

Deno.test("publish() fails with registry_locked while another publisher holds the lock too long", async () => {
  await withRegistry(async (registry, root) => {
    // A live holder: fresh mtime, so not stale.
    await Deno.writeTextFile(join(root, "registry.lock"), JSON.stringify({ token: "t", pid: 1 }));
    await assert.rejects(
      registry.publish(entry()),
      isRegistryError("registry_locked", (e) => assert.equal(e.retryable, true)),
    );
    assert.deepEqual(await registry.list(), []);
  }, { lock: { timeoutMs: 100 } });
});

Deno.test("publish() breaks the stale lock of a publisher that died", async () => {
  await withRegistry(async (registry, root) => {
    const lock = join(root, "registry.lock");
    await Deno.writeTextFile(lock, JSON.stringify({ token: "dead", pid: 1 }));
    const old = new Date(Date.now() - 120_000);
    await Deno.utime(lock, old, old);
    assert.equal((await registry.publish(entry())).status, "published");
    assert.ok(!(await tree(root)).includes("registry.lock"));
  }, { lock: { timeoutMs: 5_000, staleMs: 30_000 } });
});

Deno.test("resolve() sees versions that another registry instance publishes later", async () => {
  await withRegistry(async (reader, root) => {
    const writer = new FileRegistry(root);
    await writer.publish(entry({ version: "1.0.0" }));
    assert.equal((await reader.resolve("catalog.echo")).version, "1.0.0");
    await writer.publish(entry({ version: "1.1.0" }));
    assert.equal((await reader.resolve("catalog.echo")).version, "1.1.0");
    // An old directory mtime lets the reader trust its index; a publish still shows up.
    const dir = join(root, "guests/catalog.echo");
    const old = new Date(Date.now() - 60_000);
    await Deno.utime(dir, old, old);
    assert.equal((await reader.resolve("catalog.echo")).version, "1.1.0");
    await writer.publish(entry({ version: "1.2.0" }));
    assert.equal((await reader.resolve("catalog.echo")).version, "1.2.0");
    await Deno.remove(join(dir, "1.2.0.json"));
    assert.equal((await reader.resolve("catalog.echo")).version, "1.1.0");
  });
});

Deno.test("resolve() answers from its index while the guest's directory is unchanged", async () => {
  await withRegistry(async (registry, root) => {
    await registry.publish(entry({ version: "1.0.0" }));
    const dir = join(root, "guests/catalog.echo");
    const old = new Date(Date.now() - 60_000);
    await Deno.utime(dir, old, old);
    assert.equal((await registry.resolve("catalog.echo")).version, "1.0.0");
    // Damage the record in place (the directory's mtime does not change): the index
    // still answers, which shows a resolve does not re-read records...
    await Deno.writeTextFile(join(dir, "1.0.0.json"), "{ damaged");
    await Deno.utime(dir, old, old);
    assert.equal((await registry.resolve("catalog.echo")).sha256, await sha256Hex(ECHO));
    // ...while a fresh instance reads the record and reports the damage.
    await assert.rejects(
      new FileRegistry(root).resolve("catalog.echo"),
      isRegistryError(
        "registry_invalid",
        (e) => assert.equal(e.details.path, join(dir, "1.0.0.json")),
      ),
    );
  });
});

Deno.test("list() and resolve() report a damaged record with registry_invalid and skip unrelated files", async () => {
  await withRegistry(async (registry, root) => {
    await registry.publish(entry({ version: "1.0.0" }));
    const dir = join(root, "guests/catalog.echo");
    await Deno.writeTextFile(join(dir, "notes.txt"), "not a record");
    await Deno.writeTextFile(join(dir, "1.0.json"), "{}");
    await Deno.writeTextFile(join(dir, "1.0.0.json~"), "{}");
    await Deno.mkdir(join(root, "guests", "Not A Name"));
    assert.deepEqual(await registry.list(), [
      { name: "catalog.echo", versions: ["1.0.0"], latest: "1.0.0" },
    ]);
    const record = JSON.parse(await Deno.readTextFile(join(dir, "1.0.0.json")));
    await Deno.writeTextFile(
      join(dir, "2.0.0.json"),
      JSON.stringify({ ...record, version: "2.0.0", sha256: "zz" }),
    );
    await assert.rejects(registry.list(), isRegistryError("registry_invalid"));
    await assert.rejects(
      registry.resolve("catalog.echo@^1"),
      isRegistryError(
        "registry_invalid",
        (e) => assert.equal(e.details.path, join(dir, "2.0.0.json")),
      ),
    );
    await Deno.writeTextFile(
      join(dir, "2.0.0.json"),
      JSON.stringify({ ...record, version: "1.0.0" }),
    );
    await assert.rejects(registry.resolve("catalog.echo"), isRegistryError("registry_invalid"));
  });
});

Deno.test("a registry that does not exist yet is empty", async () => {
  await withRegistry(async (_registry, root) => {
    const registry = new FileRegistry(join(root, "none"));
    assert.deepEqual(await registry.list(), []);
    await assert.rejects(registry.resolve("catalog.echo"), isRegistryError("not_found"));
    assert.deepEqual(await tree(root), []);
  });
});
