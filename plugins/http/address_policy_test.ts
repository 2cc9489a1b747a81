import assert from "node:assert/strict";
import {
  checkAddress,
  cidrContains,
  classifyAddress,
  parseCidr,
  parseIp,
} from "./address_policy.ts";

Deno.test("parseIp() reads dotted IPv4 and every IPv6 notation", () => {
  assert.deepEqual(parseIp("127.0.0.1"), { family: 4, value: 0x7f000001n });
  assert.deepEqual(parseIp("::1"), { family: 6, value: 1n });
  assert.deepEqual(parseIp("[::1]"), { family: 6, value: 1n });
  assert.deepEqual(parseIp("::"), { family: 6, value: 0n });
  assert.deepEqual(parseIp("::ffff:127.0.0.1"), { family: 6, value: 0xffff7f000001n });
  assert.deepEqual(parseIp("::ffff:7f00:1"), { family: 6, value: 0xffff7f000001n });
  assert.equal(parseIp("2001:db8:0:0:0:0:0:1")?.value, parseIp("2001:db8::1")?.value);
  assert.equal(parseIp("1:2:3:4:5:6:7::")?.family, 6);
});

Deno.test("parseIp() rejects names, numeric shorthands, zones and malformed addresses", () => {
  for (
    const text of [
      "example.com",
      "2130706433",
      "0x7f.1",
      "0177.0.0.1",
      "127.1",
      "256.0.0.1",
      "1.2.3.4.5",
      "fe80::1%eth0",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "12345::",
      "::1.2.3.4:5",
      "[::1",
      "",
    ]
  ) {
    assert.equal(parseIp(text), null, text);
  }
});

Deno.test("parseCidr() accepts blocks and single addresses and explains bad ones", () => {
  assert.equal(parseCidr("10.0.0.0/8").prefix, 8);
  assert.equal(parseCidr("::1").prefix, 128);
  assert.equal(parseCidr("fd00::/8").family, 6);
  assert.throws(() => parseCidr("10.0.0.1/8"), /bits set beyond/);
  assert.throws(() => parseCidr("10.0.0.0/33"), TypeError);
  assert.throws(() => parseCidr("10.0.0.0/"), TypeError);
  assert.throws(() => parseCidr("10.0.0.0/-1"), TypeError);
  assert.throws(() => parseCidr("localhost"), TypeError);
  assert.throws(() => parseCidr("[::1]/128"), TypeError);
});

Deno.test("cidrContains() compares prefixes within one family only", () => {
  assert.ok(cidrContains(parseCidr("127.0.0.0/8"), parseIp("127.255.0.1")!));
  assert.ok(!cidrContains(parseCidr("127.0.0.0/8"), parseIp("128.0.0.1")!));
  assert.ok(cidrContains(parseCidr("0.0.0.0/0"), parseIp("8.8.8.8")!));
  assert.ok(!cidrContains(parseCidr("0.0.0.0/0"), parseIp("::1")!));
});

Deno.test("classifyAddress() refuses every non-public IPv4 range", () => {
  const cases: [string, string][] = [
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["169.254.1.1", "link_local"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["100.64.0.1", "cgnat"],
    ["100.127.255.255", "cgnat"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["240.0.0.1", "reserved"],
    ["198.18.0.1", "reserved"],
    ["192.0.2.1", "documentation"],
    ["169.254.169.254", "metadata"],
    ["100.100.100.200", "metadata"],
  ];
  for (const [address, category] of cases) {
    assert.equal(classifyAddress(address)?.category, category, address);
  }
});

Deno.test("classifyAddress() keeps the neighbours of private ranges public", () => {
  for (
    const address of [
      "172.15.255.255",
      "172.32.0.0",
      "100.63.255.255",
      "100.128.0.0",
      "8.8.8.8",
      "1.1.1.1",
      "11.0.0.1",
      "192.169.0.1",
      "223.255.255.255",
    ]
  ) {
    assert.equal(classifyAddress(address)?.category, "public", address);
  }
});

Deno.test("classifyAddress() refuses IPv6 loopback, private, link-local and multicast", () => {
  const cases: [string, string][] = [
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fc00::1", "private"],
    ["fd12:3456::1", "private"],
    ["fe80::1", "link_local"],
    ["febf::1", "link_local"],
    ["fec0::1", "private"],
    ["ff02::1", "multicast"],
    ["fd00:ec2::254", "metadata"],
    ["2001:db8::1", "documentation"],
    ["::7f00:1", "reserved"],
    ["2001:0:4136:e378::1", "reserved"],
  ];
  for (const [address, category] of cases) {
    assert.equal(classifyAddress(address)?.category, category, address);
  }
  assert.equal(classifyAddress("2606:4700::1111")?.category, "public");
});

Deno.test("classifyAddress() sees IPv4 hidden in IPv4-mapped, NAT64 and 6to4 addresses", () => {
  const mapped = classifyAddress("[::ffff:127.0.0.1]");
  assert.equal(mapped?.category, "loopback");
  assert.equal(mapped?.address, "127.0.0.1");
  assert.equal(classifyAddress("::ffff:a9fe:a9fe")?.category, "metadata");
  assert.equal(classifyAddress("::ffff:10.0.0.1")?.category, "private");
  assert.equal(classifyAddress("::ffff:0:127.0.0.1")?.category, "loopback");
  const nat64 = classifyAddress("64:ff9b::127.0.0.1");
  assert.equal(nat64?.category, "loopback");
  assert.equal(nat64?.embedded, "127.0.0.1");
  assert.equal(classifyAddress("64:ff9b::8.8.8.8")?.category, "public");
  assert.equal(classifyAddress("2002:c0a8:0101::1")?.category, "private");
  assert.equal(classifyAddress("2002:0808:0808::1")?.category, "public");
  assert.equal(classifyAddress("::ffff:8.8.8.8")?.category, "public");
});

Deno.test("classifyAddress() prints IPv6 in RFC 5952 form", () => {
  assert.equal(classifyAddress("fe80:0:0:0:0:0:0:1")?.address, "fe80::1");
  assert.equal(classifyAddress("2001:db8:0:1:0:0:0:1")?.address, "2001:db8:0:1::1");
  assert.equal(classifyAddress("1:0:2:0:3:0:4:0")?.address, "1:0:2:0:3:0:4:0");
  assert.equal(classifyAddress("example.com"), null);
});

Deno.test("checkAddress() allows a non-public address only inside a grant", () => {
  const grants = [parseCidr("127.0.0.1/32"), parseCidr("::1/128")];
  assert.ok(checkAddress("127.0.0.1", grants).allowed);
  assert.ok(checkAddress("::1", grants).allowed);
  assert.ok(checkAddress("::ffff:127.0.0.1", grants).allowed, "mapped form of a granted address");
  const other = checkAddress("127.0.0.2", grants);
  assert.equal(other.allowed, false);
  assert.ok(!other.allowed && other.category === "loopback");
  assert.ok(checkAddress("8.8.8.8", []).allowed);
});

Deno.test("checkAddress() opens a metadata endpoint only with a grant of exactly that address", () => {
  assert.equal(checkAddress("169.254.169.254", [parseCidr("169.254.0.0/16")]).allowed, false);
  assert.equal(checkAddress("169.254.169.254", [parseCidr("0.0.0.0/0")]).allowed, false);
  assert.ok(checkAddress("169.254.169.254", [parseCidr("169.254.169.254")]).allowed);
  assert.ok(checkAddress("169.254.1.1", [parseCidr("169.254.0.0/16")]).allowed);
});

Deno.test("checkAddress() explains a refusal and refuses text that is no address", () => {
  const decision = checkAddress("10.0.0.1", []);
  assert.ok(!decision.allowed);
  assert.match(decision.message, /private address.*allow_private_addresses/);
  assert.equal(checkAddress("localhost", []).allowed, false);
});
