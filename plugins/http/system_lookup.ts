/**
 * The default host-name resolver of the `http` capability: the operating
 * system's (`getaddrinfo` through `node:dns/promises`), which reads
 * `/etc/hosts` and `nsswitch.conf` like `fetch`'s own resolution does, so the
 * address check sees the addresses `fetch` will most likely connect to.
 * (`Deno.resolveDns` speaks DNS directly and ignores `/etc/hosts`.)
 *
 * @module
 */
import { lookup } from "node:dns/promises";

/** Resolves a host name to IP addresses (text); rejects when it does not resolve. */
export type Lookup = (hostname: string) => Promise<string[]>;

/**
 * Resolves `hostname` to all of its IPv4 and IPv6 addresses.
 *
 * @example
 * ```ts
 * import { systemLookup } from "./system_lookup.ts";
 * const addresses = await systemLookup("localhost"); // from /etc/hosts
 * console.assert(addresses.includes("127.0.0.1") || addresses.includes("::1"));
 * ```
 */
export async function systemLookup(hostname: string): Promise<string[]> {
  const found = await lookup(hostname, { all: true, verbatim: true });
  return found.map((entry) => entry.address);
}
