import assert from "node:assert/strict";
import { splitSqlStatements } from "./split_sql_statements.ts";

Deno.test("splitSqlStatements() splits on semicolons outside quotes, dollar quotes and comments", () => {
  const script = `
    -- a comment; with a semicolon
    CREATE TABLE t (a text DEFAULT 'x;y''z');
    /* block; comment */
    CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END; $body$;
    SELECT "odd;name" FROM t;
    SELECT $$;$$
  `;
  const parts = splitSqlStatements(script);
  assert.equal(parts.length, 4);
  assert.match(parts[0], /DEFAULT 'x;y''z'\)$/);
  assert.match(parts[1], /\$body\$ BEGIN RETURN 1; END; \$body\$$/);
  assert.equal(parts[2], 'SELECT "odd;name" FROM t');
  assert.equal(parts[3], "SELECT $$;$$");
});

Deno.test("splitSqlStatements() drops comment-only statements", () => {
  assert.deepEqual(splitSqlStatements("-- only a comment\n;\n/* x */;"), []);
});

Deno.test("splitSqlStatements() rejects unterminated quotes", () => {
  assert.throws(() => splitSqlStatements("SELECT 'open"), SyntaxError);
  assert.throws(() => splitSqlStatements("SELECT $$ open"), SyntaxError);
  assert.throws(() => splitSqlStatements("SELECT /* open"), SyntaxError);
});

Deno.test("splitSqlStatements() does not take a positional parameter for a dollar quote", () => {
  assert.deepEqual(splitSqlStatements("SELECT $1; SELECT $2"), ["SELECT $1", "SELECT $2"]);
});
