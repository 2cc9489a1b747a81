/**
 * Turns zod issues into manifest issues a person can act on: a dotted path
 * (`capabilities.http.allow[2]`) and "expected X, got Y".
 *
 * @module
 */
import type { z } from "zod";
import type { ManifestIssue } from "../errors.ts";

/** Formats an issue path as `a.b[2].c`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

/** A short, safe rendering of a JSON value for an error message. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}..."` : text;
}

/** Flattens zod issues (including union branches) into manifest issues. */
export function toManifestIssues(
  issues: readonly z.core.$ZodIssue[],
  knownCapabilities: readonly string[],
  prefix: readonly PropertyKey[] = [],
): ManifestIssue[] {
  const out: ManifestIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    switch (issue.code) {
      case "unrecognized_keys":
        for (const key of issue.keys) {
          const atCapabilities = path.length === 1 && path[0] === "capabilities";
          out.push({
            path: formatPath([...path, key]),
            message: atCapabilities
              ? `unknown capability (known: ${knownCapabilities.join(", ") || "none"})`
              : "unknown key",
          });
        }
        break;
      case "invalid_type":
        out.push({
          path: formatPath(path),
          message: issue.input === undefined && issue.expected !== "undefined"
            ? `required ${issue.expected} is missing`
            : `expected ${issue.expected}, got ${describeValue(issue.input)}`,
        });
        break;
      case "invalid_union": {
        // A branch whose only complaint is its own root type did not apply:
        // report the branch that got further, else list the expected types.
        const applies = (branch: readonly z.core.$ZodIssue[]) =>
          !branch.every((i) => i.code === "invalid_type" && i.path.length === 0);
        const best = issue.errors.find(applies);
        if (best) {
          out.push(...toManifestIssues(best, knownCapabilities, path));
        } else {
          const expected = issue.errors.flatMap((b) =>
            b.map((i) => (i as { expected?: string }).expected ?? "?")
          );
          out.push({
            path: formatPath(path),
            message: `expected ${[...new Set(expected)].join(" or ")}, got ${
              describeValue(issue.input)
            }`,
          });
        }
        break;
      }
      case "invalid_value":
        out.push({
          path: formatPath(path),
          message: `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${
            describeValue(issue.input)
          }`,
        });
        break;
      default:
        out.push({ path: formatPath(path), message: issue.message });
    }
  }
  return out;
}
