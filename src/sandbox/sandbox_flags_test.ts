import assert from "node:assert/strict";
import { sandboxFlags } from "./sandbox_flags.ts";

const profile = (netHosts: string[], memoryPages = 1024) => ({ netHosts, memoryPages, key: "k" });

Deno.test("sandboxFlags() grants no permission at all for a profile without hosts", () => {
  const flags = sandboxFlags(profile([]));
  assert.deepEqual(flags.filter((f) => f.startsWith("--allow") || f === "-A"), []);
  for (const required of ["--no-prompt", "--cached-only", "--no-lock"]) {
    assert.ok(flags.includes(required), required);
  }
  assert.ok(flags.includes("--v8-flags=--wasm-max-mem-pages=1024"));
});

Deno.test("sandboxFlags() resolves from the lockfile when the config has one", () => {
  const flags = sandboxFlags(profile([]), { config: "/app/deno.json", lockfile: true });
  assert.ok(flags.includes("--frozen"));
  assert.ok(
    !flags.includes("--no-lock"),
    "--no-lock would resolve npm packages again (see the doc)",
  );
  assert.ok(flags.includes("--config=/app/deno.json"));
});

Deno.test("sandboxFlags() grants the network to exactly the profile's hosts", () => {
  const flags = sandboxFlags(profile(["a.example.com", "b.example.com:8443"], 16));
  assert.deepEqual(flags.filter((f) => f.startsWith("--allow")), [
    "--allow-net=a.example.com,b.example.com:8443",
  ]);
  assert.ok(flags.includes("--v8-flags=--wasm-max-mem-pages=16"));
});

Deno.test("sandboxFlags() grants any host only for the * profile", () => {
  assert.deepEqual(sandboxFlags(profile(["*"])).filter((f) => f.startsWith("--allow")), [
    "--allow-net",
  ]);
});

Deno.test("sandboxFlags() passes the config file when given", () => {
  assert.ok(
    sandboxFlags(profile([]), { config: "/srv/app/deno.json" }).includes(
      "--config=/srv/app/deno.json",
    ),
  );
  assert.ok(!sandboxFlags(profile([])).some((f) => f.startsWith("--config")));
});
