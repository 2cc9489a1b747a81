/**
 * Guest names, versions and Tasker's `handler.callable`, parsed strictly.
 *
 * A callable names a published guest and which of its versions to run:
 *
 * | callable                            | selects                                        |
 * | ----------------------------------- | ---------------------------------------------- |
 * | `catalog.transform`                 | the highest version that is not a prerelease   |
 * | `catalog.transform@1.2.0`           | exactly 1.2.0 (`@1.0.0-rc.1`: that prerelease) |
 * | `catalog.transform@^1`              | the highest 1.x.y                              |
 * | `catalog.transform@~1.2`            | the highest 1.2.y                              |
 * | `catalog.transform@>=1.0.0 <2`      | the highest version in that interval           |
 *
 * Ranges use node-semver's syntax; see {@link selectVersion} for how
 * prereleases match.
 *
 * @module
 */
import semver from "./_semver.ts";
import { RegistryError } from "./registry_error.ts";

/** A guest name: lowercase identifiers joined by dots, e.g. `catalog.transform`. */
export const GUEST_NAME_PATTERN: RegExp = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$/;

/** Longest accepted guest name, in characters. */
export const MAX_GUEST_NAME_LENGTH = 128;

/** Longest accepted version, in characters (the file `<version>.json` must fit a file name). */
export const MAX_GUEST_VERSION_LENGTH = 128;

// semver.org's regular expression for SemVer 2.0.0, without build metadata.
const STRICT_VERSION =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?$/;

const NAME_EXPECTED = `lowercase identifiers [a-z][a-z0-9_]* joined by "." ` +
  `(e.g. "catalog.transform"), at most ${MAX_GUEST_NAME_LENGTH} characters`;
const VERSION_EXPECTED = `a SemVer 2.0 version without build metadata ` +
  `(e.g. "1.2.0", "1.0.0-rc.1"), at most ${MAX_GUEST_VERSION_LENGTH} characters`;
const REQUEST_EXPECTED = `an exact version ("1.2.0", "1.0.0-rc.1") or a semver range ` +
  `("^1", "~1.2", ">=1.0.0 <2")`;

/** What a callable asks for. */
export type GuestRequest =
  /** A bare name: the highest version that is not a prerelease. */
  | { name: string; kind: "latest" }
  /** `name@<version>`: exactly that version. */
  | { name: string; kind: "exact"; version: string }
  /** `name@<range>`: the highest version the range admits. */
  | { name: string; kind: "range"; range: string };

/** True when `name` is a valid guest name. */
export function isGuestName(name: string): boolean {
  return name.length <= MAX_GUEST_NAME_LENGTH && GUEST_NAME_PATTERN.test(name);
}

/** True when `version` is a strict SemVer 2.0 version without build metadata. */
export function isGuestVersion(version: string): boolean {
  return version.length <= MAX_GUEST_VERSION_LENGTH && STRICT_VERSION.test(version) &&
    // node-semver also refuses numbers beyond Number.MAX_SAFE_INTEGER.
    semver.valid(version) === version;
}

/**
 * Throws `callable_invalid` unless `name` is a valid guest name.
 *
 * @example
 * ```ts
 * import { checkGuestName } from "./parse_callable.ts";
 * checkGuestName("catalog.transform");
 * try {
 *   checkGuestName("Catalog");
 * } catch (error) {
 *   console.assert((error as { code: string }).code === "callable_invalid");
 * }
 * ```
 */
export function checkGuestName(name: string): void {
  if (!isGuestName(name)) {
    throw new RegistryError(
      "callable_invalid",
      `Cannot use guest name as it must be ${NAME_EXPECTED}: current value is ${
        JSON.stringify(name)
      }`,
      { details: { part: "name", value: name, expected: NAME_EXPECTED } },
    );
  }
}

/**
 * Throws `callable_invalid` unless `version` is a strict SemVer 2.0 version.
 * Build metadata (`+build.5`) is refused: versions that differ only there
 * have equal precedence, and the registry's digest already pins the build.
 *
 * @example
 * ```ts
 * import { checkGuestVersion } from "./parse_callable.ts";
 * checkGuestVersion("1.0.0-rc.1");
 * try {
 *   checkGuestVersion("v1.0");
 * } catch (error) {
 *   console.assert((error as { code: string }).code === "callable_invalid");
 * }
 * ```
 */
export function checkGuestVersion(version: string): void {
  if (!isGuestVersion(version)) {
    throw new RegistryError(
      "callable_invalid",
      `Cannot use version as it must be ${VERSION_EXPECTED}: current value is ${
        JSON.stringify(version)
      }`,
      { details: { part: "version", value: version, expected: VERSION_EXPECTED } },
    );
  }
}

function malformed(
  callable: string,
  part: "callable" | "name" | "version",
  expected: string,
  value: string,
): RegistryError {
  const what = part === "callable" ? "it" : `its ${part} part`;
  return new RegistryError(
    "callable_invalid",
    `Cannot resolve callable ${JSON.stringify(callable)} as ${what} must be ${expected}: ` +
      `current value is ${JSON.stringify(value)}`,
    { details: { callable, part, value, expected } },
  );
}

/**
 * Parses a `handler.callable`: `<name>`, `<name>@<version>` or
 * `<name>@<range>`. Throws `callable_invalid` naming the part that is wrong
 * (`details.part`: `callable`, `name` or `version`) and what was expected.
 *
 * @example
 * ```ts
 * import { parseCallable } from "./parse_callable.ts";
 * console.assert(parseCallable("catalog.transform").kind === "latest");
 * const exact = parseCallable("catalog.transform@1.2.0");
 * console.assert(exact.kind === "exact" && exact.version === "1.2.0");
 * const range = parseCallable("catalog.transform@>=1.0.0 <2");
 * console.assert(range.kind === "range" && range.range === ">=1.0.0 <2");
 * ```
 */
export function parseCallable(callable: string): GuestRequest {
  if (typeof callable !== "string" || callable.length === 0) {
    throw malformed(
      String(callable),
      "callable",
      `"<name>" or "<name>@<version or range>"`,
      String(callable),
    );
  }
  const at = callable.indexOf("@");
  const name = at < 0 ? callable : callable.slice(0, at);
  if (!isGuestName(name)) throw malformed(callable, "name", NAME_EXPECTED, name);
  if (at < 0) return { name, kind: "latest" };
  const request = callable.slice(at + 1);
  if (isGuestVersion(request)) return { name, kind: "exact", version: request };
  // "+" only ever starts build metadata, which registry versions never carry;
  // node-semver would silently drop it from a range.
  if (request.trim() === "" || request.includes("+") || request.includes("@")) {
    throw malformed(callable, "version", REQUEST_EXPECTED, request);
  }
  let valid: string | null;
  try {
    valid = semver.validRange(request);
  } catch {
    valid = null;
  }
  if (valid === null) throw malformed(callable, "version", REQUEST_EXPECTED, request);
  return { name, kind: "range", range: request.trim() };
}

/** The callable that asks for exactly `version` of `name`. */
export function formatCallable(name: string, version?: string): string {
  return version === undefined ? name : `${name}@${version}`;
}
