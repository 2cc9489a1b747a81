import assert from "node:assert/strict";
import { systemLookup } from "./system_lookup.ts";

Deno.test("systemLookup() answers from /etc/hosts like fetch does", async () => {
  const hosts = await Deno.readTextFile("/etc/hosts").catch(() => "");
  const entry = hosts.split("\n").map((line) => line.replace(/#.*/, "").trim().split(/\s+/))
    .find((fields) => fields.length >= 2 && fields[0] === "127.0.0.1");
  const name = entry?.[1] ?? "localhost";
  const addresses = await systemLookup(name);
  assert.ok(addresses.includes("127.0.0.1") || addresses.includes("::1"), String(addresses));
});

Deno.test("systemLookup() returns IP literals unchanged", async () => {
  assert.deepEqual(await systemLookup("127.0.0.1"), ["127.0.0.1"]);
  assert.deepEqual(await systemLookup("::1"), ["::1"]);
});

Deno.test("systemLookup() rejects a name that does not resolve", async () => {
  await assert.rejects(systemLookup("no-such-host.invalid"), /ENOTFOUND|EAI_AGAIN/);
});
