/**
 * The catalog builds reproducibly (a rebuild matches the committed digests,
 * generated schema files are fresh) and publishes to a registry from which
 * Tasker callables resolve.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  buildCatalog,
  CATALOG_DIR,
  compareDigests,
  type DigestFile,
  digestsOf,
} from "../src/build/catalog_build.ts";
import { main } from "../src/cli/catalog_build.ts";
import { FileRegistry } from "../src/registry/file_registry.ts";

const built = await buildCatalog({ writeGenerated: false });

Deno.test("a rebuild of the catalog is byte-identical to catalog/digests.json", async () => {
  const committed: DigestFile = JSON.parse(
    await Deno.readTextFile(join(CATALOG_DIR, "digests.json")),
  );
  assert.deepEqual(compareDigests(committed, digestsOf(built)), []);
  assert.equal(Object.keys(committed).length, 9);
});

Deno.test("catalog:build publishes every handler and republishing is a no-op", async () => {
  const dir = await Deno.makeTempDir({ prefix: "catalog-registry-" });
  try {
    assert.equal(await main(["--registry", dir]), 0);
    const registry = new FileRegistry(dir);
    const names = (await registry.list()).map((g) => g.name).sort();
    assert.deepEqual(names, built.map((h) => `catalog.${h.name}`).sort());
    const transform = built.find((h) => h.name === "transform")!;
    const resolved = await registry.resolve("catalog.transform@^1");
    assert.equal(resolved.sha256, transform.sha256);
    const loaded = await registry.load("catalog.transform", resolved.version);
    assert.deepEqual(loaded.bytes, transform.binary);
    assert.equal(await main(["--registry", dir]), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("catalog:build --help explains the command", async () => {
  assert.equal(await main(["--help"]), 0);
  assert.equal(await main(["--bogus"]), 2);
});
