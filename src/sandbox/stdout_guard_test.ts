import assert from "node:assert/strict";

Deno.test("stdout_guard sends console output to stderr, leaving stdout to frames", async () => {
  const guard = new URL("./stdout_guard.ts", import.meta.url).href;
  const code = `import ${JSON.stringify(guard)};
console.log("log"); console.info("info"); console.debug("debug"); console.table([1]);
console.dir({ d: 1 }); console.count("c"); console.time("t"); console.timeLog("t");
console.timeEnd("t"); console.group("g"); console.log("in group"); console.groupEnd();`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", `data:application/javascript,${encodeURIComponent(code)}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  assert.equal(new TextDecoder().decode(output.stdout), "");
  const stderr = new TextDecoder().decode(output.stderr);
  for (const text of ["log", "info", "debug", "c: 1", "t: ", "in group"]) {
    assert.ok(stderr.includes(text), `${text} missing from stderr: ${stderr}`);
  }
});
