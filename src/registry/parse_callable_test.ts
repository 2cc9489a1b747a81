import assert from "node:assert/strict";
import {
  checkGuestName,
  checkGuestVersion,
  type GuestRequest,
  isGuestName,
  isGuestVersion,
  parseCallable,
} from "./parse_callable.ts";
import { RegistryError } from "./registry_error.ts";

Deno.test("parseCallable() reads bare names, exact versions and ranges", () => {
  const cases: [string, GuestRequest][] = [
    ["echo", { name: "echo", kind: "latest" }],
    ["catalog.transform", { name: "catalog.transform", kind: "latest" }],
    ["a.b_2.c3", { name: "a.b_2.c3", kind: "latest" }],
    ["catalog.transform@1.2.0", { name: "catalog.transform", kind: "exact", version: "1.2.0" }],
    ["echo@0.0.0", { name: "echo", kind: "exact", version: "0.0.0" }],
    ["echo@1.0.0-rc.1", { name: "echo", kind: "exact", version: "1.0.0-rc.1" }],
    ["echo@1.0.0-alpha-1.x.0", { name: "echo", kind: "exact", version: "1.0.0-alpha-1.x.0" }],
    ["echo@^1", { name: "echo", kind: "range", range: "^1" }],
    ["echo@~1.2", { name: "echo", kind: "range", range: "~1.2" }],
    ["echo@>=1.0.0 <2", { name: "echo", kind: "range", range: ">=1.0.0 <2" }],
    ["echo@1.x", { name: "echo", kind: "range", range: "1.x" }],
    ["echo@1.2", { name: "echo", kind: "range", range: "1.2" }],
    ["echo@*", { name: "echo", kind: "range", range: "*" }],
    ["echo@^1 || ^2.0.0-rc.0", { name: "echo", kind: "range", range: "^1 || ^2.0.0-rc.0" }],
    ["echo@1.0.0 - 1.5.0", { name: "echo", kind: "range", range: "1.0.0 - 1.5.0" }],
    ["echo@=1.2.0", { name: "echo", kind: "range", range: "=1.2.0" }],
    ["echo@ ^1 ", { name: "echo", kind: "range", range: "^1" }],
  ];
  for (const [callable, expected] of cases) {
    assert.deepEqual(parseCallable(callable), expected, callable);
  }
});

Deno.test("parseCallable() refuses malformed callables naming the part that is wrong", () => {
  const cases: [string, "callable" | "name" | "version", string][] = [
    ["", "callable", ""],
    ["Catalog.transform", "name", "Catalog.transform"],
    ["catalog..transform", "name", "catalog..transform"],
    [".echo", "name", ".echo"],
    ["echo.", "name", "echo."],
    ["1echo", "name", "1echo"],
    ["catalog/transform", "name", "catalog/transform"],
    ["../etc/passwd", "name", "../etc/passwd"],
    [" echo", "name", " echo"],
    ["echo-json", "name", "echo-json"],
    ["@1.0.0", "name", ""],
    ["MyHandler::Call", "name", "MyHandler::Call"],
    [`${"a".repeat(129)}`, "name", "a".repeat(129)],
    ["echo@", "version", ""],
    ["echo@  ", "version", "  "],
    ["echo@latest", "version", "latest"],
    ["echo@1.0.0.0", "version", "1.0.0.0"],
    ["echo@1.0.0+build.1", "version", "1.0.0+build.1"],
    ["echo@^1+b", "version", "^1+b"],
    ["echo@1@2", "version", "1@2"],
    ["echo@>=x <y", "version", ">=x <y"],
    ["echo@01.0.0-", "version", "01.0.0-"],
  ];
  for (const [callable, part, value] of cases) {
    assert.throws(() => parseCallable(callable), (error: unknown) => {
      assert.ok(error instanceof RegistryError, callable);
      assert.equal(error.code, "callable_invalid", callable);
      assert.equal(error.details.part, part, callable);
      assert.equal(error.details.value, value, callable);
      assert.equal(error.details.callable, callable, callable);
      assert.equal(typeof error.details.expected, "string");
      return true;
    });
  }
});

Deno.test("isGuestName() accepts dotted lowercase identifiers up to 128 characters", () => {
  for (const name of ["a", "echo", "catalog.transform", "a_1.b_2", "a".repeat(128)]) {
    assert.ok(isGuestName(name), name);
  }
  for (const name of ["", "A", "a-b", "a.", "_a", "a..b", "a.1b", "a".repeat(129), "a b"]) {
    assert.ok(!isGuestName(name), name);
  }
});

Deno.test("isGuestVersion() accepts strict SemVer 2.0 without build metadata", () => {
  for (
    const version of ["0.0.0", "1.2.3", "10.20.30", "1.0.0-0", "1.0.0-rc.1", "1.0.0-x-y-z.--"]
  ) {
    assert.ok(isGuestVersion(version), version);
  }
  for (
    const version of [
      "",
      "1",
      "1.2",
      "v1.2.3",
      "=1.2.3",
      "01.2.3",
      "1.02.3",
      "1.2.3-01",
      "1.2.3-",
      "1.2.3+build",
      "1.2.3-rc.1+build",
      " 1.2.3",
      "99999999999999999999.0.0",
      `1.0.0-${"a".repeat(128)}`,
    ]
  ) {
    assert.ok(!isGuestVersion(version), version);
  }
});

Deno.test("checkGuestName() and checkGuestVersion() throw callable_invalid with the offending value", () => {
  assert.throws(() => checkGuestName("Echo"), (error: unknown) => {
    assert.ok(error instanceof RegistryError);
    assert.equal(error.code, "callable_invalid");
    assert.deepEqual([error.details.part, error.details.value], ["name", "Echo"]);
    return true;
  });
  assert.throws(() => checkGuestVersion("1.0.0+sha.5"), (error: unknown) => {
    assert.ok(error instanceof RegistryError);
    assert.equal(error.code, "callable_invalid");
    assert.deepEqual([error.details.part, error.details.value], ["version", "1.0.0+sha.5"]);
    return true;
  });
  checkGuestName("catalog.transform");
  checkGuestVersion("2.0.0-rc.1");
});
