/**
 * `deno task catalog:build`: builds every catalog handler to WebAssembly,
 * writes `catalog/build/<name>-<version>.wasm`, and publishes each as
 * `catalog.<name>` to the registry. `--check` instead verifies that a
 * rebuild is byte-identical to the committed `catalog/digests.json`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import {
  buildCatalog,
  buildOutputPath,
  CATALOG_DIR,
  compareDigests,
  type DigestFile,
  digestsOf,
  shortPath,
} from "../build/catalog_build.ts";
import { WasmBrokerError } from "../errors.ts";
import { FileRegistry } from "../registry/file_registry.ts";

const HELP = `Usage: deno task catalog:build [options]

Builds every handler under catalog/handlers/ to WebAssembly (AssemblyScript,
fixed flags, reproducible), regenerates each handler's config_schema.json, writes
catalog/build/<name>-<version>.wasm and publishes catalog.<name>@<version> to the
registry (identical republishing is a no-op; different bytes for a published
version are refused).

Options:
  --check               Rebuild and compare with catalog/digests.json; publish nothing.
                        Exit 1 when any module differs (builds must be reproducible).
  --write-digests       Rewrite catalog/digests.json from this build.
  --no-publish          Build only.
  --registry <dir>      Registry directory (default: $WASM_BROKER_DATA_DIR/registry or ./data/registry)
  -h, --help            Show this help

Exit status: 0 ok, 1 a check or publish was refused, 2 usage or build error.
`;

const DIGESTS = join(CATALOG_DIR, "digests.json");

/** Runs the CLI; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        check: { type: "boolean", default: false },
        "write-digests": { type: "boolean", default: false },
        "no-publish": { type: "boolean", default: false },
        registry: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  let built;
  try {
    built = await buildCatalog({
      // --check must not repair what it checks.
      writeGenerated: !values.check,
      onBuilt: (h) =>
        console.error(
          `built catalog.${h.name}@${h.version}: ${h.binary.length} bytes, sha256 ${h.sha256} (${
            h.buildMs.toFixed(0)
          } ms)`,
        ),
    });
  } catch (error) {
    console.error(`Cannot build the catalog: ${(error as Error).message}`);
    return 2;
  }
  const digests = digestsOf(built);
  if (values.check) {
    let committed: DigestFile;
    try {
      committed = JSON.parse(await Deno.readTextFile(DIGESTS));
    } catch (error) {
      console.error(`Cannot read ${shortPath(DIGESTS)}: ${(error as Error).message}`);
      return 2;
    }
    const problems = compareDigests(committed, digests);
    for (const p of problems) console.error(`not reproducible: ${p}`);
    if (problems.length === 0) {
      console.error(`all ${built.length} modules match ${shortPath(DIGESTS)}`);
    }
    return problems.length ? 1 : 0;
  }
  await Deno.mkdir(join(CATALOG_DIR, "build"), { recursive: true });
  for (const h of built) await Deno.writeFile(buildOutputPath(h), h.binary);
  if (values["write-digests"]) {
    await Deno.writeTextFile(DIGESTS, JSON.stringify(digests, null, 2) + "\n");
    console.error(`wrote ${shortPath(DIGESTS)}`);
  }
  if (values["no-publish"]) return 0;
  const registry = new FileRegistry(values.registry);
  let refused = 0;
  for (const h of built) {
    try {
      const result = await registry.publish({
        name: `catalog.${h.name}`,
        version: h.version,
        module: h.binary,
        manifest: h.manifest,
        configSchema: h.configSchema,
        description: h.description,
        manifestSource: shortPath(join(h.dir, "manifest.json")),
      });
      console.error(`${result.status} catalog.${h.name}@${h.version}`);
    } catch (error) {
      if (!(error instanceof WasmBrokerError)) throw error;
      refused++;
      console.error(`refused catalog.${h.name}@${h.version} (${error.code}): ${error.message}`);
    }
  }
  return refused ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
