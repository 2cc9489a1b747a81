/**
 * Picks the version a {@link GuestRequest} selects among the published ones.
 *
 * The highest matching version wins (SemVer 2.0 precedence). Prereleases
 * match only when asked for, with node-semver's rule:
 *
 * - a bare name never selects a prerelease;
 * - an exact version selects exactly that version, prerelease or not;
 * - a range admits a prerelease only when one of its comparators names a
 *   prerelease of the same `major.minor.patch`: `>=1.0.0-rc.1 <2` admits
 *   `1.0.0-rc.2` but not `1.1.0-beta.1`, and `^1` admits none.
 *
 * @module
 */
import semver from "./_semver.ts";
import type { GuestRequest } from "./parse_callable.ts";

/** Versions sorted by SemVer precedence, lowest first (a new array). */
export function sortVersions(versions: Iterable<string>): string[] {
  return [...versions].sort(semver.compare);
}

/**
 * The version `request` selects among `versions`, or `undefined` when none matches.
 *
 * @example
 * ```ts
 * import { selectVersion } from "./select_version.ts";
 * const published = ["1.0.0", "1.4.2", "2.0.0-rc.1"];
 * console.assert(selectVersion(published, { name: "g", kind: "latest" }) === "1.4.2");
 * console.assert(selectVersion(published, { name: "g", kind: "range", range: "^2.0.0-rc.0" }) === "2.0.0-rc.1");
 * console.assert(selectVersion(published, { name: "g", kind: "range", range: "^3" }) === undefined);
 * ```
 */
export function selectVersion(
  versions: readonly string[],
  request: GuestRequest,
): string | undefined {
  switch (request.kind) {
    case "exact":
      return versions.includes(request.version) ? request.version : undefined;
    case "latest": {
      const stable = versions.filter((v) => semver.prerelease(v) === null);
      return stable.length ? sortVersions(stable).at(-1) : undefined;
    }
    case "range":
      return semver.maxSatisfying([...versions], request.range) ?? undefined;
  }
}
