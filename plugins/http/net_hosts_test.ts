import assert from "node:assert/strict";
import { HttpPolicySchema } from "./http_policy_schema.ts";
import { netHosts } from "./net_hosts.ts";

Deno.test("netHosts() lists one host:port per allow pattern with default ports filled in", () => {
  const policy = HttpPolicySchema.parse({
    allow: [
      "https://api.example.com/v1",
      "https://api.example.com/v2",
      "http://api.example.com",
      "http://127.0.0.1:8080/x",
      "http://[::1]:8080",
      "https://*.cdn.example.com:8443",
    ],
    deny: ["https://evil.example.com"],
  });
  assert.deepEqual(netHosts(policy), [
    "*.cdn.example.com:8443",
    "127.0.0.1:8080",
    "[::1]:8080",
    "api.example.com:443",
    "api.example.com:80",
  ]);
});

Deno.test("netHosts() lists nothing for a policy that allows nothing", () => {
  assert.deepEqual(netHosts(HttpPolicySchema.parse({})), []);
});

Deno.test("netHosts() entries are accepted by Deno's --allow-net, wildcards included", async () => {
  const hosts = netHosts(HttpPolicySchema.parse({
    allow: ["https://*.example.com", "http://[::1]:8080", "http://127.0.0.1:9"],
  }));
  const probe =
    `for (const host of ["a.b.example.com:443", "[::1]:8080", "127.0.0.1:9", "evil.com:443", "a.example.com:80"]) {
    console.log(host, (await Deno.permissions.query({ name: "net", host })).state);
  }`;
  // `deno eval` grants everything: run a file with exactly these permissions.
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, probe);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", `--allow-net=${hosts.join(",")}`, file],
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => Deno.remove(file));
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  assert.deepEqual(new TextDecoder().decode(output.stdout).trim().split("\n"), [
    "a.b.example.com:443 granted",
    "[::1]:8080 granted",
    "127.0.0.1:9 granted",
    "evil.com:443 prompt",
    "a.example.com:80 prompt",
  ]);
});
