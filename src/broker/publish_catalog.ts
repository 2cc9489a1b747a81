/**
 * Makes sure the registry holds the catalog this checkout ships: every
 * `catalog/handlers/<name>` at the version in its `handler.json`. Missing
 * versions are built (AssemblyScript, reproducible) and published, so
 * `deno task broker` on a fresh clone serves the catalog without a separate
 * `deno task catalog:build`. Published versions are never rebuilt.
 *
 * @module
 */
import { join } from "node:path";
import {
  buildHandler,
  CATALOG_DIR,
  listHandlers,
  readDescriptor,
  shortPath,
} from "../build/catalog_build.ts";
import { WasmBrokerError } from "../errors.ts";
import type { FileRegistry } from "../registry/file_registry.ts";

/** What {@link publishCatalog} did. */
export interface PublishCatalogReport {
  /** `catalog.<name>@<version>` already in the registry. */
  present: string[];
  /** Built and published now. */
  published: string[];
}

/** Options for {@link publishCatalog}. */
export interface PublishCatalogOptions {
  catalogDir?: string;
  /** Progress lines (one per handler built). */
  onProgress?: (message: string) => void;
}

async function isPublished(registry: FileRegistry, name: string, version: string) {
  try {
    await registry.show(name, version);
    return true;
  } catch (error) {
    if (error instanceof WasmBrokerError && error.code === "not_found") return false;
    throw error;
  }
}

/**
 * Publishes the catalog handlers the registry lacks. Throws `build_failed`
 * or a registry error (e.g. `version_conflict` when a different module was
 * published under the same version).
 */
export async function publishCatalog(
  registry: FileRegistry,
  options: PublishCatalogOptions = {},
): Promise<PublishCatalogReport> {
  const catalogDir = options.catalogDir ?? CATALOG_DIR;
  const report: PublishCatalogReport = { present: [], published: [] };
  for (const handler of await listHandlers(catalogDir)) {
    const dir = join(catalogDir, "handlers", handler);
    const { name, version } = await readDescriptor(dir);
    const callable = `catalog.${name}@${version}`;
    if (await isPublished(registry, `catalog.${name}`, version)) {
      report.present.push(callable);
      continue;
    }
    options.onProgress?.(`building ${callable} (${shortPath(dir)})`);
    // writeGenerated false: a running broker never rewrites source files.
    const built = await buildHandler(dir, { catalogDir, writeGenerated: false });
    await registry.publish({
      name: `catalog.${name}`,
      version,
      module: built.binary,
      manifest: built.manifest,
      configSchema: built.configSchema,
      description: built.description,
      manifestSource: shortPath(join(dir, "manifest.json")),
    });
    options.onProgress?.(`published ${callable} sha256 ${built.sha256}`);
    report.published.push(callable);
  }
  return report;
}
