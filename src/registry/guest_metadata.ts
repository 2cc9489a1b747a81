/**
 * The record the registry keeps for one published version of a guest
 * (`guests/<name>/<version>.json`), and how two records are compared.
 *
 * @module
 */
import { z } from "zod";
import { toManifestIssues } from "../manifest/format_issues.ts";
import { isGuestName, isGuestVersion } from "./parse_callable.ts";
import { RegistryError } from "./registry_error.ts";

/** One published version of a guest. Immutable once written. */
export interface GuestMetadata {
  /** Guest name, e.g. `catalog.transform`. */
  name: string;
  /** Strict SemVer 2.0 version, e.g. `1.2.0` or `2.0.0-rc.1`. */
  version: string;
  /** sha256 of the module bytes, lowercase hex; the blob is `blobs/sha256/<sha256>.wasm`. */
  sha256: string;
  /** Module size in bytes. */
  size: number;
  /** The manifest as published (validated at publish; the runtime parses it again). */
  manifest: Record<string, unknown>;
  /** JSON Schema (2020-12) of the step's `handler.initialization`, when published with one. */
  config_schema?: Record<string, unknown>;
  /** What the guest does, for people. */
  description?: string;
  /** When this version was published (RFC 3339, UTC). */
  published_at: string;
}

/** Fields whose values make up a version's identity; any difference is a conflict. */
export const CONTENT_FIELDS = [
  "sha256",
  "size",
  "manifest",
  "config_schema",
  "description",
] as const;

/** One of {@link CONTENT_FIELDS}. */
export type ContentField = typeof CONTENT_FIELDS[number];

/** Longest accepted description, in characters. */
export const MAX_DESCRIPTION_LENGTH = 2000;

const jsonObject = z.record(z.string(), z.unknown());

/** Schema of a stored record (unknown keys are errors). */
export const GuestMetadataSchema: z.ZodType<GuestMetadata> = z.strictObject({
  name: z.string().refine(isGuestName, { message: "expected a guest name" }),
  version: z.string().refine(isGuestVersion, { message: "expected a SemVer 2.0 version" }),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, { message: "expected 64 lowercase hex digits" }),
  size: z.number().int().nonnegative(),
  manifest: jsonObject,
  config_schema: jsonObject.optional(),
  description: z.string().max(MAX_DESCRIPTION_LENGTH).optional(),
  published_at: z.iso.datetime({ offset: true }),
});

/** Where a record was read from, to check it against its file name. */
export interface RecordLocation {
  path: string;
  name: string;
  version: string;
}

/**
 * Parses a stored record; throws `registry_invalid` when it is malformed or
 * does not match the name and version its path claims.
 *
 * @example
 * ```ts
 * import { parseGuestMetadata } from "./guest_metadata.ts";
 * const record = parseGuestMetadata(
 *   { name: "echo", version: "1.0.0", sha256: "0".repeat(64), size: 8, manifest: {},
 *     published_at: "2025-01-01T00:00:00.000Z" },
 *   { path: "guests/echo/1.0.0.json", name: "echo", version: "1.0.0" },
 * );
 * console.assert(record.size === 8);
 * ```
 */
export function parseGuestMetadata(input: unknown, where: RecordLocation): GuestMetadata {
  const parsed = GuestMetadataSchema.safeParse(input);
  if (!parsed.success) {
    const issues = toManifestIssues(parsed.error.issues, []);
    throw new RegistryError(
      "registry_invalid",
      `Cannot read guest record ${where.path} as it is malformed: ${
        issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ")
      }`,
      { details: { path: where.path, issues } },
    );
  }
  const record = parsed.data;
  if (record.name !== where.name || record.version !== where.version) {
    throw new RegistryError(
      "registry_invalid",
      `Cannot read guest record ${where.path} as it describes ${record.name}@${record.version}`,
      { details: { path: where.path, name: record.name, version: record.version } },
    );
  }
  return record;
}

/**
 * JSON with object keys sorted at every level, so equal values give equal text.
 *
 * @example
 * ```ts
 * import { canonicalJson } from "./guest_metadata.ts";
 * console.assert(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }) === canonicalJson({ a: [{ c: 3, d: 2 }], b: 1 }));
 * ```
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(v).sort()) sorted[key] = (v as Record<string, unknown>)[key];
    return sorted;
  });
}

/** The {@link CONTENT_FIELDS} in which two records of one version differ (empty: identical). */
export function contentDifferences(
  a: Pick<GuestMetadata, ContentField>,
  b: Pick<GuestMetadata, ContentField>,
): ContentField[] {
  return CONTENT_FIELDS.filter((field) => canonicalJson(a[field]) !== canonicalJson(b[field]));
}
