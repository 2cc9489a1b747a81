import assert from "node:assert/strict";
import "../../native/portable_runtime.ts";
import { checkFormat, FORMAT_NONE, formatIdOf } from "./schema_format.ts";

function check(format: string, valid: string[], invalid: string[]) {
  const id = formatIdOf(format);
  assert.notEqual(id, FORMAT_NONE, format);
  for (const s of valid) {
    assert.ok(checkFormat(id, s), `${format}: ${JSON.stringify(s)} should be valid`);
  }
  for (const s of invalid) {
    assert.ok(!checkFormat(id, s), `${format}: ${JSON.stringify(s)} should be invalid`);
  }
}

Deno.test("checkFormat() validates RFC 3339 dates with real month lengths", () => {
  check("date", ["2024-02-29", "2000-02-29", "1999-12-31", "0000-01-01"], [
    "2023-02-29",
    "1900-02-29",
    "2024-04-31",
    "2024-13-01",
    "2024-00-10",
    "2024-1-01",
    "2024-01-01T00:00:00Z",
    "24-01-01",
    "2024/01/01",
  ]);
});

Deno.test("checkFormat() validates RFC 3339 times, offsets and leap seconds", () => {
  check("time", [
    "08:30:06Z",
    "08:30:06.283185z",
    "23:59:60Z",
    "01:29:60+01:30",
    "15:59:60-08:00",
    "00:00:00+23:59",
  ], [
    "08:30:06",
    "24:00:00Z",
    "08:60:00Z",
    "22:59:60Z",
    "23:59:60+01:00",
    "08:30:06+24:00",
    "08:30:06.Z",
    "8:30:06Z",
    "08:30:06 Z",
    "08:30:06+0100",
  ]);
  check("date-time", [
    "1963-06-19T08:30:06.283185Z",
    "1990-12-31t15:59:60-08:00",
    "2024-02-29T00:00:00+01:00",
  ], [
    "1963-06-19 08:30:06Z",
    "1963-06-19T08:30:06",
    "2023-02-29T00:00:00Z",
    "1963-06-19T08:30:06.Z",
    "2013-350T01:01:01Z",
  ]);
});

Deno.test("checkFormat() validates emails with a dot-atom local part and a dotted host", () => {
  check("email", [
    "joe.bloggs@example.com",
    "te~st@example.com",
    "a+b/c=d@sub.example.org",
    "x@a-b.co",
  ], [
    "joe",
    "@example.com",
    ".a@example.com",
    "a.@example.com",
    "a..b@example.com",
    "a@localhost",
    "a@-x.com",
    "a@x-.com",
    "a b@example.com",
    "a@exa_mple.com",
  ]);
});

Deno.test("checkFormat() validates IPv4 and IPv6 addresses", () => {
  check("ipv4", ["192.168.0.1", "0.0.0.0", "255.255.255.255"], [
    "256.0.0.1",
    "192.168.0",
    "192.168.0.1.1",
    "087.10.0.1",
    "1.2.3.4 ",
    "a.b.c.d",
    "",
  ]);
  check("ipv6", [
    "::1",
    "::",
    "1::",
    "2001:db8::ff00:42:8329",
    "1:2:3:4:5:6:7:8",
    "::ffff:192.168.0.1",
    "1:2:3:4:5:6:1.2.3.4",
  ], [
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "12345::",
    "1::2::3",
    ":1:2",
    "1:2:",
    "::ffff:256.0.0.1",
    "1:2:3:4:5:6:7:1.2.3.4",
    "fe80::1%eth0",
    "g::1",
  ]);
});

Deno.test("checkFormat() validates absolute URIs and UUIDs", () => {
  check("uri", [
    "http://example.com/a/b?q=1#frag",
    "urn:isbn:0451450523",
    "mailto:user@example.com",
    "https://[2001:db8::1]:8080/",
    "ftp://user:pw@host.example:21/%20x",
    "tag:",
  ], [
    "/relative/path",
    "example.com",
    "http://exa mple.com",
    "http://example.com/%zz",
    "1http://x",
    "http://[::1/",
    "http://host:port/",
    "http://example.com/\\",
  ]);
  check("uuid", ["2eb8aa08-aa98-11ea-b4aa-73b441d16380", "2EB8AA08-AA98-11EA-B4AA-73B441D16380"], [
    "2eb8aa08aa9811eab4aa73b441d16380",
    "2eb8aa08-aa98-11ea-b4aa-73b441d1638",
    "2eb8aa08-aa98-11ea-b4aa-73b441d1638g",
    "urn:uuid:2eb8aa08-aa98-11ea-b4aa-73b441d16380",
  ]);
});

Deno.test("formatIdOf() leaves other formats as annotations", () => {
  for (const f of ["hostname", "regex", "json-pointer", "duration", ""]) {
    assert.equal(formatIdOf(f), FORMAT_NONE);
  }
  assert.ok(checkFormat(FORMAT_NONE, "anything"));
});
