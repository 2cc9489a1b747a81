import assert from "node:assert/strict";
import { sandboxEntry } from "./sandbox_entry.ts";

const source = (entry: string) => decodeURIComponent(entry.slice(entry.indexOf(",") + 1));

Deno.test("sandboxEntry() imports the guard first, then the runner and each plugin module once", () => {
  const entry = sandboxEntry([
    "file:///srv/b.ts",
    "file:///srv/a.ts",
    "file:///srv/b.ts",
  ]);
  const lines = source(entry).split("\n");
  assert.match(lines[0], /^import ".*\/stdout_guard\.ts";$/);
  assert.match(lines[1], /^import \{ runSandbox \} from ".*\/sandbox_main\.ts";$/);
  assert.deepEqual(lines.slice(2, 4), [
    'import * as m0 from "file:///srv/a.ts";',
    'import * as m1 from "file:///srv/b.ts";',
  ]);
  assert.equal(
    lines[4],
    'await runSandbox({ "file:///srv/a.ts": m0, "file:///srv/b.ts": m1 });',
  );
});

Deno.test("sandboxEntry() quotes module URLs so they cannot inject code", () => {
  const entry = sandboxEntry(['file:///srv/x.ts";globalThis.pwned=1;"']);
  const text = source(entry);
  assert.ok(!text.includes('x.ts";globalThis'), text);
  assert.ok(text.includes(JSON.stringify('file:///srv/x.ts";globalThis.pwned=1;"')));
});

Deno.test("sandboxEntry() refuses a module that is not an absolute URL", () => {
  assert.throws(() => sandboxEntry(["./plugins/io/io_plugin.ts"]), TypeError);
});
