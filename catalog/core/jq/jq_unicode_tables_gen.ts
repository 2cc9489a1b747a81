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
lines.push(" * Unicode character classes for the regex engine. Generated from the");
lines.push(
  " * Unicode data of V8 " + Deno.version.v8 + " (`/\\p{…}/u`) by jq_unicode_tables_gen.ts;",
);
lines.push(" * do not edit by hand.");
lines.push(" *");
lines.push(" * Each class is stored as bytes (two per UTF-16 unit of a string literal,");
lines.push(
  " * which costs nothing when a wasm instance starts): for every range, the gap since the",
);
lines.push(" * previous range and the range's length minus one, as little-endian");
lines.push(" * base-128 varints. Decoded the first time a regex tests a non-ASCII");
lines.push(" * character against the class.");
lines.push(" */");
lines.push("");
tables.forEach(([name, doc], i) => {
  lines.push(`/** ${doc}. */`);
  lines.push(`export const ${name}: i32 = ${i};`);
});
lines.push("");
function varints(r: number[]): number[] {
  const out: number[] = [];
  const put = (v: number) => {
    while (v >= 0x80) {
      out.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(v);
  };
  let prevEnd = -1;
  for (let k = 0; k < r.length; k += 2) {
    put(r[k] - prevEnd - 1);
    put(r[k + 1] - r[k]);
    prevEnd = r[k + 1];
  }
  return out;
}
tables.forEach(([name, , re]) => {
  const bytes = varints(ranges(re));
  if (bytes.length % 2 === 1) bytes.push(0);
  // Two bytes per UTF-16 code unit, high byte first; a trailing 0 byte pads.
  let text = "";
  for (let k = 0; k < bytes.length; k += 2) {
    text += "\\u" + ((bytes[k] << 8) | bytes[k + 1]).toString(16).padStart(4, "0");
  }
  lines.push(`const ${name}_BYTES = "${text}";`);
});
lines.push("");
lines.push("function bytesOf(table: i32): string {");
lines.push("  switch (table) {");
tables.forEach(([name], i) => {
  lines.push(`    case ${i}:`);
  lines.push(`      return ${name}_BYTES;`);
});
lines.push("    default:");
lines.push('      return "";');
lines.push("  }");
lines.push("}");
lines.push("");
lines.push("let decoded: Array<Array<i32> | null> | null = null;");
lines.push("");
lines.push("/** The ranges of `table` as `[start0, end0, start1, end1, …]`. */");
lines.push("function rangesOf(table: i32): Array<i32> {");
lines.push("  let cache = decoded;");
lines.push("  if (cache == null) {");
lines.push(`    cache = new Array<Array<i32> | null>(${tables.length});`);
lines.push(`    for (let i = 0; i < ${tables.length}; i++) cache[i] = null;`);
lines.push("    decoded = cache;");
lines.push("  }");
lines.push("  const known = cache[table];");
lines.push("  if (known != null) return known;");
lines.push("  const packed = bytesOf(table);");
lines.push("  const out = new Array<i32>();");
lines.push("  let i = 0;");
lines.push("  let prevEnd = -1;");
lines.push("  const n = packed.length * 2;");
lines.push("  while (i < n) {");
lines.push("    let gap = 0;");
lines.push("    let shift = 1;");
lines.push("    while (true) {");
lines.push("      const b = (packed.charCodeAt(i >> 1) >> ((i & 1) == 0 ? 8 : 0)) & 0xff;");
lines.push("      i++;");
lines.push("      gap += (b & 0x7f) * shift;");
lines.push("      if (b < 0x80) break;");
lines.push("      shift *= 128;");
lines.push("    }");
lines.push("    let length = 0;");
lines.push("    shift = 1;");
lines.push("    while (true) {");
lines.push("      const b = (packed.charCodeAt(i >> 1) >> ((i & 1) == 0 ? 8 : 0)) & 0xff;");
lines.push("      i++;");
lines.push("      length += (b & 0x7f) * shift;");
lines.push("      if (b < 0x80) break;");
lines.push("      shift *= 128;");
lines.push("    }");
lines.push("    const start = prevEnd + 1 + gap;");
lines.push("    out.push(start);");
lines.push("    out.push(start + length);");
lines.push("    prevEnd = start + length;");
lines.push("  }");
lines.push("  cache[table] = out;");
lines.push("  return out;");
lines.push("}");
lines.push("");
lines.push("/**");
lines.push(" * Whether code point `c` is in class `table` (binary search over its ranges).");
lines.push(" *");
lines.push(" * @example");
lines.push(" * ```ts");
lines.push(' * import "../../native/portable_runtime.ts";');
lines.push(' * import { DIGIT, inTable } from "./jq_unicode_tables.ts";');
lines.push(" * console.assert(inTable(DIGIT, 0x0663) && !inTable(DIGIT, 0x41));");
lines.push(" * ```");
lines.push(" */");
lines.push("export function inTable(table: i32, c: i32): bool {");
lines.push("  const ranges = rangesOf(table);");
lines.push("  let lo = 0;");
lines.push("  let hi = (ranges.length >> 1) - 1;");
lines.push("  while (lo <= hi) {");
lines.push("    const mid = (lo + hi) >> 1;");
lines.push("    if (c < ranges[2 * mid]) hi = mid - 1;");
lines.push("    else if (c > ranges[2 * mid + 1]) lo = mid + 1;");
lines.push("    else return true;");
lines.push("  }");
lines.push("  return false;");
lines.push("}");
Deno.writeTextFileSync(new URL("./jq_unicode_tables.ts", import.meta.url), lines.join("\n") + "\n");
