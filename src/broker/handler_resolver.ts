/**
 * From a step's `handler.callable` to a loaded guest: resolve the callable in
 * the registry (`catalog.transform@^1`), load the module (digest checked),
 * and validate it under its effective manifest — the deployment's grant for
 * that guest name when the broker config has one, else the manifest
 * published with it. Loaded guests are cached per name and version; callable
 * resolutions for a short time, so a newly published version is picked up.
 *
 * @module
 */
import { WasmBrokerError } from "../errors.ts";
import type { FileRegistry } from "../registry/file_registry.ts";
import type { GuestMetadata } from "../registry/guest_metadata.ts";
import type { LoadedGuest, Runtime } from "../runtime/runtime.ts";

/** A guest this broker runs, ready for `runtime.execute`. */
export interface ServedHandler {
  name: string;
  version: string;
  /** sha256 of the module bytes. */
  digest: string;
  /** Capabilities the effective manifest grants. */
  capabilities: string[];
  /** Where the effective manifest came from. */
  manifestSource: "published" | "grant";
  guest: LoadedGuest;
}

/** What {@link HandlerResolver.resolve} found. */
export type Resolution =
  | { served: true; handler: ServedHandler }
  /** Not a callable this broker serves: leave the step for another worker. */
  | { served: false; reason: "callable_invalid" | "not_found"; message: string }
  /** Served, but unusable here (tampered module, broken record, refused manifest). */
  | { served: false; reason: "unavailable"; message: string; code: string };

/** One published version, as `GET /v1/handlers` lists it. */
export interface HandlerInfo {
  name: string;
  version: string;
  digest: string;
  capabilities: string[];
  manifest_source: "published" | "grant";
  description?: string;
}

/** Options for {@link HandlerResolver}. */
export interface HandlerResolverOptions {
  /** Deployment manifests by guest name (see the broker config's `grants`). */
  grants?: Readonly<Record<string, unknown>>;
  /** How long a callable's resolution is reused, ms. Default 1000. */
  resolveTtlMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

const NOT_SERVED = new Set(["callable_invalid", "not_found"]);

function errorCode(error: unknown): string {
  return error instanceof WasmBrokerError ? error.code : "internal";
}

/** Resolves callables to loaded guests; see the module doc. */
export class HandlerResolver {
  readonly #registry: FileRegistry;
  readonly #runtime: Runtime;
  readonly #grants: Readonly<Record<string, unknown>>;
  readonly #ttl: number;
  readonly #now: () => number;
  readonly #resolved = new Map<string, { at: number; metadata: Promise<GuestMetadata> }>();
  readonly #loaded = new Map<string, Promise<ServedHandler>>();
  /** Callables whose last resolution was served, with when that resolution was made. */
  readonly #served = new Map<string, { at: number; handler: ServedHandler }>();

  constructor(registry: FileRegistry, runtime: Runtime, options: HandlerResolverOptions = {}) {
    this.#registry = registry;
    this.#runtime = runtime;
    this.#grants = options.grants ?? {};
    this.#ttl = options.resolveTtlMs ?? 1000;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Checks every grant against the capability plugins, so a bad deployment
   * manifest stops the broker at start instead of failing steps later.
   * Throws `manifest_invalid` naming the guest.
   */
  checkGrants(): void {
    for (const [name, manifest] of Object.entries(this.#grants)) {
      this.#runtime.parseManifest(manifest, `grants["${name}"] in the broker config`);
    }
  }

  /** Resolves `callable`; never throws (failures are {@link Resolution} values). */
  async resolve(callable: string): Promise<Resolution> {
    const resolution = this.#metadata(callable);
    let metadata: GuestMetadata;
    try {
      metadata = await resolution.metadata;
    } catch (error) {
      const code = errorCode(error);
      const message = (error as Error).message;
      this.#served.delete(callable);
      if (NOT_SERVED.has(code)) {
        return { served: false, reason: code as "callable_invalid" | "not_found", message };
      }
      return { served: false, reason: "unavailable", code, message };
    }
    const key = `${metadata.name}@${metadata.version}`;
    let loading = this.#loaded.get(key);
    if (!loading) {
      loading = this.#load(metadata);
      this.#loaded.set(key, loading);
      // A failed load is retried on the next step (the registry may be repaired).
      loading.catch(() => this.#loaded.delete(key));
    }
    try {
      const handler = await loading;
      this.#served.set(callable, { at: resolution.at, handler });
      if (this.#served.size > 10_000) this.#served.clear();
      return { served: true, handler };
    } catch (error) {
      this.#served.delete(callable);
      return {
        served: false,
        reason: "unavailable",
        code: errorCode(error),
        message: (error as Error).message,
      };
    }
  }

  /**
   * The handler `callable` resolved to, without waiting, when that
   * resolution is still within the resolution time (`resolveTtlMs`) — the
   * same answer {@link resolve} would give now from its cache. `undefined`
   * otherwise (not resolved lately, or not served).
   */
  servedNow(callable: string): ServedHandler | undefined {
    const entry = this.#served.get(callable);
    return entry && this.#now() - entry.at < this.#ttl ? entry.handler : undefined;
  }

  /** Every published version with its effective capabilities. */
  async list(): Promise<HandlerInfo[]> {
    const out: HandlerInfo[] = [];
    for (const summary of await this.#registry.list()) {
      for (const record of await this.#registry.versions(summary.name)) {
        const grant = this.#grants[record.name] as Record<string, unknown> | undefined;
        const manifest = grant ?? record.manifest;
        const capabilities = Object.keys(
          (manifest.capabilities as Record<string, unknown> | undefined) ?? {},
        ).sort();
        out.push({
          name: record.name,
          version: record.version,
          digest: record.sha256,
          capabilities,
          manifest_source: grant ? "grant" : "published",
          ...(record.description ? { description: record.description } : {}),
        });
      }
    }
    return out;
  }

  /** The cached or a new resolution of `callable`, with when it was made. */
  #metadata(callable: string): { at: number; metadata: Promise<GuestMetadata> } {
    const now = this.#now();
    const cached = this.#resolved.get(callable);
    if (cached && now - cached.at < this.#ttl) return cached;
    const entry = { at: now, metadata: this.#registry.resolve(callable) };
    this.#resolved.set(callable, entry);
    entry.metadata.catch(() => this.#resolved.delete(callable));
    if (this.#resolved.size > 10_000) this.#resolved.clear(); // callables come from templates
    return entry;
  }

  async #load(metadata: GuestMetadata): Promise<ServedHandler> {
    const { bytes } = await this.#registry.load(metadata.name, metadata.version);
    const grant = this.#grants[metadata.name];
    const manifest = this.#runtime.parseManifest(
      grant ?? metadata.manifest,
      grant
        ? `grants["${metadata.name}"] in the broker config`
        : `${metadata.name}@${metadata.version}`,
    );
    const guest = await this.#runtime.load(bytes, manifest, { name: metadata.name });
    return {
      name: metadata.name,
      version: metadata.version,
      digest: metadata.sha256,
      capabilities: Object.keys(manifest.capabilities).sort(),
      manifestSource: grant ? "grant" : "published",
      guest,
    };
  }
}
