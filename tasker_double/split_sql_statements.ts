/**
 * Splits a SQL script into statements for drivers that run one statement per
 * call (extended query protocol, PGlite's `query`). Test and demo tooling for
 * the Tasker double, not product code.
 *
 * @module
 */

/**
 * Splits `script` on semicolons that are outside single-quoted strings,
 * double-quoted identifiers, dollar-quoted bodies (`$$`, `$tag$`) and
 * comments. Returns trimmed statements without the trailing semicolon;
 * statements that hold only comments are dropped.
 *
 * @example
 * ```ts
 * import { splitSqlStatements } from "./split_sql_statements.ts";
 * const parts = splitSqlStatements("SELECT 1; CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;");
 * console.assert(parts.length === 2 && parts[1].endsWith("LANGUAGE sql"));
 * ```
 */
export function splitSqlStatements(script: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  let hasCode = false;
  const n = script.length;
  while (i < n) {
    const ch = script[i];
    const next = script[i + 1];
    if (ch === "-" && next === "-") {
      const end = script.indexOf("\n", i);
      i = end === -1 ? n : end + 1;
      continue;
    }
    if (ch === "/" && next === "*") {
      const end = script.indexOf("*/", i + 2);
      if (end === -1) {
        throw new SyntaxError(`Cannot split SQL as a block comment is unterminated at offset ${i}`);
      }
      i = end + 2;
      continue;
    }
    if (ch === "'" || ch === '"') {
      hasCode = true;
      let j = i + 1;
      for (;;) {
        const close = script.indexOf(ch, j);
        if (close === -1) {
          throw new SyntaxError(`Cannot split SQL as a quoted text is unterminated at offset ${i}`);
        }
        // A doubled quote is an escaped quote inside the text.
        if (script[close + 1] === ch) {
          j = close + 2;
          continue;
        }
        i = close + 1;
        break;
      }
      continue;
    }
    if (ch === "$") {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(script.slice(i, i + 64));
      if (tag) {
        hasCode = true;
        const end = script.indexOf(tag[0], i + tag[0].length);
        if (end === -1) {
          throw new SyntaxError(
            `Cannot split SQL as dollar quote ${tag[0]} is unterminated at offset ${i}`,
          );
        }
        i = end + tag[0].length;
        continue;
      }
    }
    if (ch === ";") {
      const text = script.slice(start, i).trim();
      if (hasCode && text) statements.push(text);
      start = i + 1;
      hasCode = false;
      i++;
      continue;
    }
    if (!/\s/.test(ch)) hasCode = true;
    i++;
  }
  const tail = script.slice(start).trim();
  if (hasCode && tail) statements.push(tail);
  return statements;
}
