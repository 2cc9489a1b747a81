/**
 * A sandbox process's permission profile: the network hosts it may reach
 * and the cap on every wasm memory in it. Steps only run in a process of
 * their own profile, so a guest never runs with another guest's network
 * grant.
 *
 * @module
 */
import type { CapabilityRegistry } from "../capability/capability_registry.ts";
import { WasmBrokerError } from "../errors.ts";
import type { Manifest } from "../manifest/manifest.ts";
import { DEFAULT_LIMITS, MAX_WASM_PAGES } from "../manifest/limits_schema.ts";

/** Network hosts and memory cap of a group of sandbox processes. */
export interface SandboxProfile {
  /** Hosts for `--allow-net`, sorted and unique; empty = no network; `["*"]` = any host. */
  readonly netHosts: readonly string[];
  /** Cap for `--wasm-max-mem-pages`: a power of two, at least the served manifests' limits. */
  readonly memoryPages: number;
  /** Stable identity of the profile, e.g. `net=api.example.com;mem=1024`. */
  readonly key: string;
}

/** `host`, `host:port`, `*.host`, IPv4, `[ipv6]`, each with an optional port. */
const HOST =
  /^(?:(?:\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** Rounds a page count up to a power of two (at most 65,536), so few profiles exist. */
export function memoryBucket(pages: number): number {
  let bucket = 1;
  while (bucket < pages && bucket < MAX_WASM_PAGES) bucket *= 2;
  return bucket;
}

/**
 * The profile a process needs to serve every one of `manifests`: the union
 * of the hosts their granted plugins' `netHosts(policy)` return, and the
 * largest `limits.memory` rounded up to a power of two.
 *
 * Throws `internal` when a plugin returns something that is not a host
 * name (it would be spliced into a command-line flag).
 *
 * @example
 * ```ts
 * import { CapabilityRegistry } from "../capability/capability_registry.ts";
 * import { parseManifest } from "../manifest/manifest.ts";
 * import { sandboxProfile } from "./sandbox_profile.ts";
 * const registry = new CapabilityRegistry();
 * const profile = sandboxProfile([parseManifest({ limits: { memory: "3MiB" } }, registry)], registry);
 * console.assert(profile.netHosts.length === 0 && profile.memoryPages === 64);
 * ```
 */
export function sandboxProfile(
  manifests: Iterable<Manifest>,
  registry: CapabilityRegistry,
): SandboxProfile {
  const hosts = new Set<string>();
  let pages = 0;
  for (const manifest of manifests) {
    pages = Math.max(pages, manifest.limits.memory);
    for (const [name, policy] of Object.entries(manifest.capabilities)) {
      const plugin = registry.get(name);
      for (const host of plugin?.netHosts?.(policy) ?? []) {
        if (host !== "*" && !HOST.test(host)) {
          throw new WasmBrokerError(
            "internal",
            `Cannot grant network access to a sandbox as plugin "${name}" returned an invalid host: current value is ${
              JSON.stringify(host)
            }`,
            { details: { capability: name } },
          );
        }
        hosts.add(host.toLowerCase());
      }
    }
  }
  const netHosts = hosts.has("*") ? ["*"] : [...hosts].sort();
  const memoryPages = memoryBucket(pages || DEFAULT_LIMITS.memoryPages);
  return { netHosts, memoryPages, key: `net=${netHosts.join(",")};mem=${memoryPages}` };
}
