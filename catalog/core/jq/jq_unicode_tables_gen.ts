/**
 * Regenerates `jq_unicode_tables.ts` (the regex engine's Unicode classes)
 * from the Unicode data of the running V8:
 *
 *     deno run --allow-write catalog/core/jq/jq_unicode_tables_gen.ts
 *
 * A Deno script, not part of either build.
 *
 * @module
 */

/** Sorted inclusive ranges `[start, end, …]` of the code points `re` matches. */
function ranges(re: RegExp): number[] {
  const out: number[] = [];
  let start = -1;
  for (let c = 0; c <= 0x10ffff; c++) {
    const m = re.test(String.fromCodePoint(c));
    if (m && start < 0) start = c;
    if (!m && start >= 0) {
      out.push(start, c - 1);
      start = -1;
    }
  }
  if (start >= 0) out.push(start, 0x10ffff);
  return out;
}
const tables: [string, string, RegExp][] = [
  [
    "WORD",
    "Alphabetic, marks, numbers and connector punctuation (Oniguruma's `\\w`)",
    /^[\p{Alphabetic}\p{M}\p{N}\p{Pc}]$/u,
  ],
  ["DIGIT", "Decimal numbers, Nd (`\\d`)", /^\p{Nd}$/u],
  ["SPACE", "White_Space (`\\s`)", /^\p{White_Space}$/u],
  ["ALPHA", "Alphabetic (`[[:alpha:]]`)", /^\p{Alphabetic}$/u],
  ["UPPER", "Uppercase (`[[:upper:]]`)", /^\p{Uppercase}$/u],
  ["LOWER", "Lowercase (`[[:lower:]]`)", /^\p{Lowercase}$/u],
  ["PUNCT", "Punctuation, P (`[[:punct:]]`, `\\p{P}`)", /^\p{P}$/u],
  ["LETTER", "Letters, L (`\\p{L}`)", /^\p{L}$/u],
  ["NUMBER", "Numbers, N (`\\p{N}`)", /^\p{N}$/u],
  ["UPPER_LETTER", "Uppercase letters, Lu (`\\p{Lu}`)", /^\p{Lu}$/u],
  ["LOWER_LETTER", "Lowercase letters, Ll (`\\p{Ll}`)", /^\p{Ll}$/u],
];
const lines: string[] = [];
lines.push("// deno-fmt-ignore-file");
lines.push('/// <reference path="../portable.d.ts" />');
lines.push("/**");
lines.push(" * Unicode character classes for the regex engine, as sorted inclusive");
lines.push(" * code point ranges `[start0, end0, start1, end1, …]`. Generated from the");
lines.push(
  " * Unicode data of V8 " + Deno.version.v8 + " (`/\\p{…}/u`) by jq_unicode_tables_gen.ts;",
);
lines.push(" * do not edit by hand.");
lines.push(" */");
lines.push("");
for (const [name, doc, re] of tables) {
  const r = ranges(re);
  lines.push(`/** ${doc}. */`);
  lines.push(`export const ${name}: Array<i32> = [`);
  for (let i = 0; i < r.length; i += 8) {
    lines.push("  " + r.slice(i, i + 8).map((x) => "0x" + x.toString(16)).join(", ") + ",");
  }
  lines.push("];");
  lines.push("");
}
lines.push("/**");
lines.push(" * Whether code point `c` is in `table` (binary search over the ranges).");
lines.push(" *");
lines.push(" * @example");
lines.push(" * ```ts");
lines.push(' * import "../../native/portable_runtime.ts";');
lines.push(' * import { DIGIT, inTable } from "./jq_unicode_tables.ts";');
lines.push(" * console.assert(inTable(DIGIT, 0x0663) && !inTable(DIGIT, 0x41));");
lines.push(" * ```");
lines.push(" */");
lines.push("export function inTable(table: Array<i32>, c: i32): bool {");
lines.push("  let lo = 0;");
lines.push("  let hi = (table.length >> 1) - 1;");
lines.push("  while (lo <= hi) {");
lines.push("    const mid = (lo + hi) >> 1;");
lines.push("    if (c < table[2 * mid]) hi = mid - 1;");
lines.push("    else if (c > table[2 * mid + 1]) lo = mid + 1;");
lines.push("    else return true;");
lines.push("  }");
lines.push("  return false;");
lines.push("}");
Deno.writeTextFileSync(new URL("./jq_unicode_tables.ts", import.meta.url), lines.join("\n") + "\n");
