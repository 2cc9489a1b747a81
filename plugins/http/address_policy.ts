/**
 * The address check of the `http` capability: which IP addresses a guest's
 * request may reach. Everything that is not a public unicast address is
 * refused (loopback, private, link-local, unspecified, CGNAT, multicast,
 * broadcast, reserved and documentation ranges, cloud metadata endpoints),
 * including IPv4 addresses hidden in IPv6 (IPv4-mapped, NAT64, 6to4), unless
 * the manifest grants them in `allow_private_addresses`.
 *
 * @module
 */

/** Why an address is not public. */
export type AddressCategory =
  | "public"
  | "loopback"
  | "private"
  | "link_local"
  | "unspecified"
  | "cgnat"
  | "multicast"
  | "broadcast"
  | "reserved"
  | "documentation"
  | "metadata";

/** A parsed IP address: family and value (32 or 128 bits). */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly value: bigint;
}

/** A parsed CIDR block such as `10.0.0.0/8` or `::1/128`. */
export interface Cidr extends IpAddress {
  readonly prefix: number;
}

/** What {@link classifyAddress} found. */
export interface AddressClass {
  /** Canonical text: dotted IPv4 (IPv4-mapped IPv6 collapses to it) or RFC 5952 IPv6. */
  readonly address: string;
  readonly family: 4 | 6;
  readonly category: AddressCategory;
  /** Set when the category comes from an IPv4 address embedded in IPv6 (NAT64, 6to4). */
  readonly embedded?: string;
}

/** The decision of {@link checkAddress}. */
export type AddressDecision =
  | { readonly allowed: true; readonly address: string }
  | {
    readonly allowed: false;
    readonly address: string;
    readonly category: AddressCategory;
    readonly message: string;
  };

const V4_DOTTED = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4(text: string): bigint | null {
  if (!V4_DOTTED.test(text)) return null;
  return text.split(".").reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

function parseIpv6(text: string): bigint | null {
  // Zone ids (fe80::1%eth0) name an interface of this host: never a valid target.
  if (text.includes("%") || text.split("::").length > 2) return null;
  const [head, tail] = text.includes("::") ? text.split("::") : [text, null];
  const toGroups = (part: string): number[] | null => {
    if (part === "") return [];
    const groups: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIpv4(piece);
        if (v4 === null) return null;
        groups.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else if (HEX_GROUP.test(piece)) {
        groups.push(parseInt(piece, 16));
      } else {
        return null;
      }
    }
    return groups;
  };
  const left = toGroups(head);
  const right = tail === null ? [] : toGroups(tail);
  if (left === null || right === null) return null;
  // The embedded IPv4 form may only end the address.
  if (tail !== null && head.includes(".")) return null;
  const missing = 8 - left.length - right.length;
  if (tail === null ? missing !== 0 : missing < 1) return null;
  const groups = [...left, ...new Array<number>(tail === null ? 0 : missing).fill(0), ...right];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/**
 * Parses an IPv4 (strict dotted decimal) or IPv6 address, with or without
 * brackets; `null` when `text` is no IP address.
 *
 * @example
 * ```ts
 * import { parseIp } from "./address_policy.ts";
 * console.assert(parseIp("[::1]")?.value === 1n);
 * console.assert(parseIp("example.com") === null);
 * ```
 */
export function parseIp(text: string): IpAddress | null {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const v4 = parseIpv4(bare);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = bare.includes(":") ? parseIpv6(bare) : null;
  return v6 === null ? null : { family: 6, value: v6 };
}

/**
 * Parses a CIDR block (`10.0.0.0/8`, `fd00::/8`) or a single address (a /32
 * or /128); throws a `TypeError` saying what is wrong. Host bits must be zero.
 *
 * @example
 * ```ts
 * import { parseCidr } from "./address_policy.ts";
 * console.assert(parseCidr("127.0.0.1").prefix === 32);
 * ```
 */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf("/");
  const ipText = slash === -1 ? text : text.slice(0, slash);
  const ip = parseIp(ipText);
  if (!ip || ipText.startsWith("[")) {
    throw new TypeError(`"${ipText}" is no IPv4 or IPv6 address`);
  }
  const width = ip.family === 4 ? 32 : 128;
  if (slash === -1) return { ...ip, prefix: width };
  const prefixText = text.slice(slash + 1);
  const prefix = Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText) || prefix > width) {
    throw new TypeError(`prefix length must be 0-${width}, got "${prefixText}"`);
  }
  if (prefix < width && (ip.value & ((1n << BigInt(width - prefix)) - 1n)) !== 0n) {
    throw new TypeError(`address has bits set beyond the /${prefix} prefix`);
  }
  return { ...ip, prefix };
}

/** True when `cidr` contains `ip` (same family only). */
export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  if (cidr.family !== ip.family) return false;
  const shift = BigInt((cidr.family === 4 ? 32 : 128) - cidr.prefix);
  return (cidr.value >> shift) === (ip.value >> shift);
}

function formatIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join(".");
}

function formatIpv6(value: bigint): string {
  const groups = Array.from(
    { length: 8 },
    (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn),
  );
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on a tie.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best === -1) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

type Embedded = "mapped" | { shift: bigint };
type Rule = readonly [Cidr, AddressCategory | Embedded];

const rule = (cidr: string, what: AddressCategory | Embedded): Rule => [parseCidr(cidr), what];

// Most specific first: the first matching rule decides.
const V4_RULES: readonly Rule[] = [
  rule("169.254.169.254/32", "metadata"), // AWS, GCP, Azure, OpenStack
  rule("100.100.100.200/32", "metadata"), // Alibaba Cloud
  rule("0.0.0.0/8", "unspecified"),
  rule("10.0.0.0/8", "private"),
  rule("100.64.0.0/10", "cgnat"),
  rule("127.0.0.0/8", "loopback"),
  rule("169.254.0.0/16", "link_local"),
  rule("172.16.0.0/12", "private"),
  rule("192.0.0.0/24", "reserved"),
  rule("192.0.2.0/24", "documentation"),
  rule("192.88.99.0/24", "reserved"),
  rule("192.168.0.0/16", "private"),
  rule("198.18.0.0/15", "reserved"),
  rule("198.51.100.0/24", "documentation"),
  rule("203.0.113.0/24", "documentation"),
  rule("224.0.0.0/4", "multicast"),
  rule("255.255.255.255/32", "broadcast"),
  rule("240.0.0.0/4", "reserved"),
];

const V6_RULES: readonly Rule[] = [
  rule("fd00:ec2::254/128", "metadata"), // AWS IMDS over IPv6
  rule("::/128", "unspecified"),
  rule("::1/128", "loopback"),
  rule("::ffff:0:0/96", "mapped"),
  rule("::ffff:0:0:0/96", "mapped"), // IPv4-translated (SIIT)
  rule("::/96", "reserved"), // deprecated IPv4-compatible
  rule("64:ff9b::/96", { shift: 0n }), // NAT64: the last 32 bits are the IPv4 target
  rule("64:ff9b:1::/48", "private"), // local-use NAT64
  rule("100::/64", "reserved"), // discard-only
  rule("2001::/32", "reserved"), // Teredo
  rule("2001:db8::/32", "documentation"),
  rule("2002::/16", { shift: 80n }), // 6to4: bits 16-48 are the IPv4 address
  rule("fc00::/7", "private"),
  rule("fe80::/10", "link_local"),
  rule("fec0::/10", "private"), // deprecated site-local
  rule("ff00::/8", "multicast"),
];

function classifyParsed(ip: IpAddress): AddressClass {
  if (ip.family === 4) {
    const hit = V4_RULES.find(([cidr]) => cidrContains(cidr, ip));
    return {
      address: formatIpv4(ip.value),
      family: 4,
      category: (hit?.[1] as AddressCategory | undefined) ?? "public",
    };
  }
  const address = formatIpv6(ip.value);
  const hit = V6_RULES.find(([cidr]) => cidrContains(cidr, ip));
  if (!hit) return { address, family: 6, category: "public" };
  const what = hit[1];
  if (what === "mapped") return classifyParsed({ family: 4, value: ip.value & 0xffffffffn });
  if (typeof what === "string") return { address, family: 6, category: what };
  const v4 = classifyParsed({ family: 4, value: (ip.value >> what.shift) & 0xffffffffn });
  return v4.category === "public"
    ? { address, family: 6, category: "public" }
    : { address, family: 6, category: v4.category, embedded: v4.address };
}

/**
 * Classifies an IP address (text, brackets allowed); `null` when it is none.
 * IPv4-mapped IPv6 addresses are reported as the IPv4 address they map to.
 *
 * @example
 * ```ts
 * import { classifyAddress } from "./address_policy.ts";
 * console.assert(classifyAddress("[::ffff:127.0.0.1]")?.category === "loopback");
 * console.assert(classifyAddress("169.254.169.254")?.category === "metadata");
 * console.assert(classifyAddress("93.184.215.14")?.category === "public");
 * ```
 */
export function classifyAddress(text: string): AddressClass | null {
  const ip = parseIp(text);
  return ip && classifyParsed(ip);
}

const DESCRIBE: Record<Exclude<AddressCategory, "public">, string> = {
  loopback: "a loopback address",
  private: "a private address",
  link_local: "a link-local address",
  unspecified: "an unspecified address",
  cgnat: "a carrier-grade NAT (100.64.0.0/10) address",
  multicast: "a multicast address",
  broadcast: "the broadcast address",
  reserved: "a reserved address",
  documentation: "a documentation address",
  metadata: "a cloud metadata endpoint",
};

/** Options for {@link checkAddress}. */
export interface CheckAddressOptions {
  /** The host name `address` was resolved from, for the message. */
  host?: string;
}

/**
 * Decides whether a request may connect to `address`. Non-public addresses
 * need a grant: a block in `grants` containing them. Cloud metadata
 * endpoints need a grant of exactly that one address, so a broad grant such
 * as `169.254.0.0/16` never opens them by accident.
 *
 * @example
 * ```ts
 * import { checkAddress, parseCidr } from "./address_policy.ts";
 * console.assert(!checkAddress("127.0.0.1", []).allowed);
 * console.assert(checkAddress("127.0.0.1", [parseCidr("127.0.0.1/32")]).allowed);
 * ```
 */
export function checkAddress(
  address: string,
  grants: readonly Cidr[],
  options: CheckAddressOptions = {},
): AddressDecision {
  const ip = parseIp(address);
  if (!ip) {
    return {
      allowed: false,
      address,
      category: "reserved",
      message: `Cannot reach "${address}" as it is no IP address`,
    };
  }
  const found = classifyParsed(ip);
  if (found.category === "public") return { allowed: true, address: found.address };
  // Grants apply to the canonical address: ::ffff:127.0.0.1 is granted by 127.0.0.1/32.
  const canonical = parseIp(found.address)!;
  const granted = grants.some((g) =>
    cidrContains(g, canonical) &&
    (found.category !== "metadata" || g.prefix === (g.family === 4 ? 32 : 128))
  );
  if (granted) return { allowed: true, address: found.address };
  const via = found.embedded ? ` (it embeds ${found.embedded})` : "";
  return {
    allowed: false,
    address: found.address,
    category: found.category,
    message: `Cannot connect to ${
      options.host ? `"${options.host}" at ` : ""
    }${found.address} as it is ${
      DESCRIBE[found.category]
    }${via}: grant it in capabilities.http.allow_private_addresses to reach it`,
  };
}
