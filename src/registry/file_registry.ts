/**
 * The guest registry on a local file system: versioned guests, each pinned
 * to the sha256 of its module, resolved from Tasker's `handler.callable`.
 *
 * Layout under the root (see docs/registry.md):
 *
 * ```text
 * registry.lock                      held while a publisher writes
 * tmp/                               temporary files, renamed or linked into place
 * blobs/sha256/<sha256>.wasm         module bytes, content-addressed, shared by versions
 * guests/<name>/<version>.json       one immutable GuestMetadata record per version
 * ```
 *
 * @module
 */
import { join, resolve } from "node:path";
import { CapabilityRegistry } from "../capability/capability_registry.ts";
import { safeParseManifest } from "../manifest/manifest.ts";
import { compileOutputSchema } from "../manifest/output_schema.ts";
import { inspectGuest } from "../runtime/inspect_guest.ts";
import { sha256Hex } from "../runtime/runtime.ts";
import { builtinPlugins } from "../../plugins/builtin_plugins.ts";
import { defaultRegistryDir } from "./default_registry_dir.ts";
import {
  contentDifferences,
  type GuestMetadata,
  MAX_DESCRIPTION_LENGTH,
  parseGuestMetadata,
} from "./guest_metadata.ts";
import {
  checkGuestName,
  checkGuestVersion,
  formatCallable,
  type GuestRequest,
  isGuestName,
  isGuestVersion,
  parseCallable,
} from "./parse_callable.ts";
import { RegistryError } from "./registry_error.ts";
import { acquireRegistryLock, type RegistryLockOptions } from "./registry_lock.ts";
import { selectVersion, sortVersions } from "./select_version.ts";
import { writeFileAtomic } from "./write_file_atomic.ts";

/** Options for {@link FileRegistry}. */
export interface FileRegistryOptions {
  /** Capabilities manifests are validated against. Default: the built-in plugins. */
  capabilities?: CapabilityRegistry;
  /** Clock for `published_at`. Default: `() => new Date()`. */
  now?: () => Date;
  /** How publishers wait for and break the registry lock. */
  lock?: RegistryLockOptions;
}

/** What to publish: one version of one guest. */
export interface PublishEntry {
  /** Guest name, e.g. `catalog.transform`. */
  name: string;
  /** Strict SemVer 2.0 version without build metadata, e.g. `1.2.0` or `2.0.0-rc.1`. */
  version: string;
  /** The module's bytes. */
  module: Uint8Array;
  /** The manifest (JSON value); validated against the registry's capabilities. */
  manifest: unknown;
  /** JSON Schema (2020-12) of the step's `handler.initialization`, if the guest takes config. */
  configSchema?: unknown;
  /** What the guest does, at most 2000 characters. */
  description?: string;
  /** Where the manifest came from (a file path), for error messages. */
  manifestSource?: string;
}

/** The outcome of {@link FileRegistry.publish}. */
export interface PublishResult {
  /** `published`: written now. `unchanged`: identical content was already published (no-op). */
  status: "published" | "unchanged";
  /** The stored record (for `unchanged`, the original one with its `published_at`). */
  metadata: GuestMetadata;
}

/** One guest name and its published versions. */
export interface GuestSummary {
  name: string;
  /** Every published version, lowest first by SemVer precedence. */
  versions: string[];
  /** What the bare name resolves to: the highest version that is not a prerelease. */
  latest?: string;
}

/** A verified module: its bytes hash to `metadata.sha256`. */
export interface LoadedModule {
  metadata: GuestMetadata;
  bytes: Uint8Array;
}

interface CachedRecord {
  ino: number | null;
  mtimeMs: number;
  size: number;
  record: GuestMetadata;
}

interface CachedName {
  ino: number | null;
  mtimeMs: number;
  /** False while the directory changed too recently for its mtime to prove it is unchanged. */
  settled: boolean;
  files: Map<string, CachedRecord>;
  /** The records by version, handed out as is (they are frozen). */
  records: ReadonlyMap<string, GuestMetadata>;
}

/**
 * A directory whose mtime is this close to now may change again within the
 * same mtime tick; such a listing is re-read on the next look.
 */
const SETTLE_MS = 2000;

/** Temporary files older than this are leftovers of a publisher that died. */
const TMP_MAX_AGE_MS = 60 * 60 * 1000;

const encoder = new TextEncoder();

function mtimeOf(stat: Deno.FileInfo): number {
  return stat.mtime?.getTime() ?? 0;
}

/** Freezes a JSON value in place: records are shared by every caller of the index. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function listVersions(versions: Iterable<string>): string {
  const sorted = sortVersions(versions);
  return sorted.length ? sorted.join(", ") : "none";
}

/**
 * A file-system registry of versioned, digest-pinned guests.
 *
 * Publishing is atomic and safe against concurrent publishers (other
 * processes included); a published version never changes. Reading is
 * lock-free; an in-memory index, refreshed when a guest's directory changes,
 * makes {@link resolve} cost one `stat` when nothing changed (the records it
 * returns are shared by the index, so they are frozen). {@link load}
 * re-hashes the module on every call and refuses bytes that do not match.
 *
 * @example
 * ```ts
 * import { FileRegistry } from "./file_registry.ts";
 * import { wat } from "../../tests/support/wat.ts";
 *
 * const root = await Deno.makeTempDir();
 * const registry = new FileRegistry(root);
 * const module = wat(`(module (memory (export "memory") 1) (func (export "run") (result i32) (i32.const 0)))`);
 * const manifest = { capabilities: { io: {} } };
 * await registry.publish({ name: "catalog.noop", version: "1.0.0", module, manifest });
 * await registry.publish({ name: "catalog.noop", version: "1.1.0-rc.1", module, manifest });
 *
 * const picked = await registry.resolve("catalog.noop@^1");
 * console.assert(picked.version === "1.0.0");
 * const { bytes } = await registry.load(picked.name, picked.version);
 * console.assert(bytes.length === picked.size);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class FileRegistry {
  /** Absolute root directory. */
  readonly root: string;
  readonly #capabilities: CapabilityRegistry;
  readonly #now: () => Date;
  readonly #lock: RegistryLockOptions;
  readonly #names = new Map<string, CachedName>();

  /** `root` defaults to {@link defaultRegistryDir} (`$WASM_BROKER_DATA_DIR/registry` or `./data/registry`). */
  constructor(root?: string, options: FileRegistryOptions = {}) {
    this.root = resolve(root ?? defaultRegistryDir());
    this.#capabilities = options.capabilities ?? new CapabilityRegistry(builtinPlugins());
    this.#now = options.now ?? (() => new Date());
    this.#lock = options.lock ?? {};
  }

  #guestDir(name: string): string {
    return join(this.root, "guests", name);
  }

  #recordPath(name: string, version: string): string {
    return join(this.root, "guests", name, `${version}.json`);
  }

  /** Where the module with this digest is stored. */
  blobPath(sha256: string): string {
    return join(this.root, "blobs", "sha256", `${sha256}.wasm`);
  }

  /**
   * Publishes one version. Validates the name, version, manifest (against
   * the registry's capabilities), module (layout, limits and imports against
   * the manifest, without compiling it) and config schema first.
   *
   * Throws `callable_invalid`, `manifest_invalid`, `module_invalid`,
   * `memory_limit`, `table_limit`, `unknown_import` or
   * `config_schema_invalid` for bad input; `version_conflict` when the
   * version exists with different content (`details.fields` lists what
   * differs); `registry_locked` when another publisher holds the lock too
   * long. Publishing identical content again resolves `unchanged`.
   */
  async publish(entry: PublishEntry): Promise<PublishResult> {
    const candidate = await this.#validate(entry);
    const { name, version } = candidate;
    const tmpDir = join(this.root, "tmp");
    await Promise.all([
      Deno.mkdir(tmpDir, { recursive: true }),
      Deno.mkdir(join(this.root, "blobs", "sha256"), { recursive: true }),
      Deno.mkdir(this.#guestDir(name), { recursive: true }),
    ]);
    const lock = await acquireRegistryLock(join(this.root, "registry.lock"), this.#lock);
    try {
      const existing = await this.#readRecord(name, version);
      if (existing) return this.#republish(existing, candidate);
      await this.#writeBlob(entry.module, candidate.sha256, tmpDir);
      const written = await writeFileAtomic(
        this.#recordPath(name, version),
        encoder.encode(`${JSON.stringify(candidate, null, 2)}\n`),
        { tmpDir, noClobber: true },
      );
      if (!written) {
        // Only if a stale lock was wrongly broken: the record is never overwritten regardless.
        const raced = await this.#readRecord(name, version);
        if (!raced) {
          throw new RegistryError(
            "registry_invalid",
            `Cannot publish ${name}@${version} as its record vanished while it was being written`,
            { details: { path: this.#recordPath(name, version) } },
          );
        }
        return this.#republish(raced, candidate);
      }
      await this.#removeOldTmpFiles(tmpDir);
      return { status: "published", metadata: candidate };
    } finally {
      this.#names.delete(name);
      await lock.release();
    }
  }

  async #validate(entry: PublishEntry): Promise<GuestMetadata> {
    checkGuestName(entry.name);
    checkGuestVersion(entry.version);
    if (!(entry.module instanceof Uint8Array)) {
      throw new TypeError(`Cannot publish ${entry.name}@${entry.version} as module is not bytes`);
    }
    const parsed = safeParseManifest(entry.manifest, this.#capabilities, {
      source: entry.manifestSource,
    });
    if (!parsed.success) throw parsed.error;
    inspectGuest(entry.module, parsed.manifest, this.#capabilities);
    if (entry.configSchema !== undefined) checkConfigSchema(entry.configSchema);
    if (entry.description !== undefined) {
      if (
        typeof entry.description !== "string" || entry.description.length > MAX_DESCRIPTION_LENGTH
      ) {
        throw new RangeError(
          `Cannot publish ${entry.name}@${entry.version} as the description must be a string of at most ${MAX_DESCRIPTION_LENGTH} characters: current length is ${
            String(entry.description).length
          }`,
        );
      }
    }
    // A JSON round trip stores exactly what a later reader will see.
    const record: GuestMetadata = {
      name: entry.name,
      version: entry.version,
      sha256: await sha256Hex(entry.module),
      size: entry.module.length,
      manifest: JSON.parse(JSON.stringify(entry.manifest)),
      ...(entry.configSchema === undefined
        ? {}
        : { config_schema: JSON.parse(JSON.stringify(entry.configSchema)) }),
      ...(entry.description === undefined ? {} : { description: entry.description }),
      published_at: this.#now().toISOString(),
    };
    return record;
  }

  #republish(existing: GuestMetadata, candidate: GuestMetadata): PublishResult {
    const fields = contentDifferences(existing, candidate);
    if (fields.length === 0) return { status: "unchanged", metadata: existing };
    throw new RegistryError(
      "version_conflict",
      `Cannot publish ${candidate.name}@${candidate.version} as that version is already ` +
        `published with different ${fields.join(", ")} (published versions never change; ` +
        `publish a new version): current sha256 is ${existing.sha256}`,
      {
        details: {
          name: candidate.name,
          version: candidate.version,
          fields,
          published_sha256: existing.sha256,
          attempted_sha256: candidate.sha256,
        },
      },
    );
  }

  async #writeBlob(bytes: Uint8Array, sha256: string, tmpDir: string): Promise<void> {
    const path = this.blobPath(sha256);
    try {
      if ((await sha256Hex(await Deno.readFile(path))) === sha256) return;
      // A damaged blob is replaced by these bytes, which do hash to its name.
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    await writeFileAtomic(path, bytes, { tmpDir });
  }

  async #removeOldTmpFiles(tmpDir: string): Promise<void> {
    const cutoff = Date.now() - TMP_MAX_AGE_MS;
    for await (const item of Deno.readDir(tmpDir)) {
      const path = join(tmpDir, item.name);
      try {
        if (mtimeOf(await Deno.stat(path)) < cutoff) await Deno.remove(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
  }

  async #readRecordFile(
    path: string,
    name: string,
    version: string,
  ): Promise<GuestMetadata | undefined> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new RegistryError(
        "registry_invalid",
        `Cannot read guest record ${path} as it is not JSON: ${(error as Error).message}`,
        { details: { path } },
      );
    }
    return parseGuestMetadata(json, { path, name, version });
  }

  async #readRecord(name: string, version: string): Promise<GuestMetadata | undefined> {
    return await this.#readRecordFile(this.#recordPath(name, version), name, version);
  }

  /** Published records of `name` by version, from the index (refreshed if the directory changed). */
  async #records(name: string): Promise<ReadonlyMap<string, GuestMetadata>> {
    const dir = this.#guestDir(name);
    let stat: Deno.FileInfo;
    try {
      stat = await Deno.stat(dir);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      this.#names.delete(name);
      return new Map();
    }
    const cached = this.#names.get(name);
    const mtimeMs = mtimeOf(stat);
    if (cached?.settled && cached.mtimeMs === mtimeMs && cached.ino === stat.ino) {
      return cached.records;
    }
    const files = new Map<string, CachedRecord>();
    for await (const item of Deno.readDir(dir)) {
      if (!item.name.endsWith(".json")) continue;
      const version = item.name.slice(0, -".json".length);
      if (!isGuestVersion(version)) continue; // not a record (editor backups and the like)
      const path = join(dir, item.name);
      let fileStat: Deno.FileInfo;
      try {
        fileStat = await Deno.stat(path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) continue;
        throw error;
      }
      if (!fileStat.isFile) continue;
      const previous = cached?.files.get(version);
      if (
        previous && previous.ino === fileStat.ino && previous.mtimeMs === mtimeOf(fileStat) &&
        previous.size === fileStat.size
      ) {
        files.set(version, previous);
        continue;
      }
      const record = await this.#readRecordFile(path, name, version);
      if (record) {
        files.set(version, {
          ino: fileStat.ino,
          mtimeMs: mtimeOf(fileStat),
          size: fileStat.size,
          record: deepFreeze(record),
        });
      }
    }
    const records = new Map([...files].map(([v, c]) => [v, c.record]));
    this.#names.set(name, {
      ino: stat.ino,
      mtimeMs,
      settled: Date.now() - mtimeMs > SETTLE_MS,
      files,
      records,
    });
    return records;
  }

  async #select(
    verb: string,
    subject: string,
    request: GuestRequest,
  ): Promise<GuestMetadata> {
    const records = await this.#records(request.name);
    const details = {
      callable: subject,
      name: request.name,
      available: sortVersions(records.keys()),
    };
    if (records.size === 0) {
      throw new RegistryError(
        "not_found",
        `Cannot ${verb} ${JSON.stringify(subject)} as no guest named ${
          JSON.stringify(request.name)
        } is published in ${this.root}`,
        { details },
      );
    }
    const version = selectVersion([...records.keys()], request);
    if (version !== undefined) return records.get(version)!;
    const available = listVersions(records.keys());
    const reason = request.kind === "latest"
      ? `${request.name} has only prereleases (ask for one with ${request.name}@<version or range>)`
      : request.kind === "exact"
      ? `version ${request.version} of ${request.name} is not published`
      : `no published version of ${request.name} satisfies ${JSON.stringify(request.range)}`;
    throw new RegistryError(
      "not_found",
      `Cannot ${verb} ${JSON.stringify(subject)} as ${reason}: available versions are ${available}`,
      { details },
    );
  }

  /**
   * Every published guest name with its versions, sorted by name.
   *
   * Throws `registry_invalid` when a record is damaged.
   */
  async list(): Promise<GuestSummary[]> {
    const names: string[] = [];
    try {
      for await (const item of Deno.readDir(join(this.root, "guests"))) {
        if (item.isDirectory && isGuestName(item.name)) names.push(item.name);
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
    const summaries: GuestSummary[] = [];
    for (const name of names.sort()) {
      const versions = sortVersions((await this.#records(name)).keys());
      if (versions.length === 0) continue;
      const latest = selectVersion(versions, { name, kind: "latest" });
      summaries.push({ name, versions, ...(latest === undefined ? {} : { latest }) });
    }
    return summaries;
  }

  /** Every published version of `name`, lowest first; empty when the name is unknown. */
  async versions(name: string): Promise<GuestMetadata[]> {
    checkGuestName(name);
    const records = await this.#records(name);
    return sortVersions(records.keys()).map((v) => records.get(v)!);
  }

  /**
   * The record of `name` at exactly `version`, or, without a version, of
   * the highest version that is not a prerelease. Throws `callable_invalid`
   * or `not_found` (`details.available` lists the published versions).
   */
  async show(name: string, version?: string): Promise<GuestMetadata> {
    checkGuestName(name);
    if (version === undefined) return await this.#select("show", name, { name, kind: "latest" });
    checkGuestVersion(version);
    return await this.#select("show", formatCallable(name, version), {
      name,
      kind: "exact",
      version,
    });
  }

  /**
   * Resolves a `handler.callable` (`<name>`, `<name>@<version>`,
   * `<name>@<range>`) to the record of the highest matching version.
   * Throws `callable_invalid` (`details.part` says which part is malformed)
   * or `not_found` (`details.available` lists the published versions).
   */
  async resolve(callable: string): Promise<GuestMetadata> {
    return await this.#select("resolve", callable, parseCallable(callable));
  }

  /**
   * Reads the module of `name@version` and checks it against the recorded
   * digest. Throws `digest_mismatch` (the bytes are never returned) when
   * the blob was altered, `registry_invalid` when it is missing.
   */
  async load(name: string, version: string): Promise<LoadedModule> {
    const metadata = await this.show(name, version);
    const path = this.blobPath(metadata.sha256);
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      throw new RegistryError(
        "registry_invalid",
        `Cannot load ${name}@${version} as its module ${path} is missing`,
        { details: { name, version, path, sha256: metadata.sha256 } },
      );
    }
    const actual = await sha256Hex(bytes);
    if (actual !== metadata.sha256 || bytes.length !== metadata.size) {
      throw new RegistryError(
        "digest_mismatch",
        `Cannot load ${name}@${version} as its module ${path} does not match the digest ` +
          `recorded at publish (${metadata.sha256}, ${metadata.size} bytes): current sha256 is ` +
          `${actual} (${bytes.length} bytes)`,
        {
          details: {
            name,
            version,
            path,
            expected: metadata.sha256,
            actual,
            expected_size: metadata.size,
            actual_size: bytes.length,
          },
        },
      );
    }
    return { metadata, bytes };
  }
}

/** Throws `config_schema_invalid` unless `schema` is an object that compiles as JSON Schema 2020-12. */
function checkConfigSchema(schema: unknown): void {
  if (!isJsonObject(schema)) {
    throw new RegistryError(
      "config_schema_invalid",
      `Cannot use config schema as it must be a JSON Schema object: current value is ${
        Array.isArray(schema) ? "an array" : JSON.stringify(schema)
      }`,
      { details: { reason: "not_an_object" } },
    );
  }
  try {
    compileOutputSchema(schema);
  } catch (error) {
    throw new RegistryError(
      "config_schema_invalid",
      `Cannot use config schema as it is not a valid JSON Schema (2020-12): ${
        (error as Error).message
      }`,
      { details: { reason: "does_not_compile" }, cause: error },
    );
  }
}
