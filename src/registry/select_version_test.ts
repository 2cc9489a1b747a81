import assert from "node:assert/strict";
import { parseCallable } from "./parse_callable.ts";
import { selectVersion, sortVersions } from "./select_version.ts";

const PUBLISHED = [
  "2.0.0-rc.2",
  "0.9.0",
  "1.0.0-beta.1",
  "1.0.0",
  "1.2.0",
  "1.2.5",
  "1.10.0",
  "1.11.0-rc.1",
  "2.0.0-rc.1",
  "3.0.0-alpha.1",
];

Deno.test("sortVersions() orders by SemVer precedence, prereleases before their release", () => {
  assert.deepEqual(sortVersions(PUBLISHED), [
    "0.9.0",
    "1.0.0-beta.1",
    "1.0.0",
    "1.2.0",
    "1.2.5",
    "1.10.0",
    "1.11.0-rc.1",
    "2.0.0-rc.1",
    "2.0.0-rc.2",
    "3.0.0-alpha.1",
  ]);
  assert.deepEqual(sortVersions(["1.0.0-rc.10", "1.0.0-rc.9", "1.0.0-rc", "1.0.0-beta"]), [
    "1.0.0-beta",
    "1.0.0-rc",
    "1.0.0-rc.9",
    "1.0.0-rc.10",
  ]);
});

Deno.test("selectVersion() picks the highest match; prereleases only when the request names one", () => {
  const table: [string, string | undefined][] = [
    ["g", "1.10.0"],
    ["g@1.2.0", "1.2.0"],
    ["g@1.0.0-beta.1", "1.0.0-beta.1"],
    ["g@2.0.0-rc.1", "2.0.0-rc.1"],
    ["g@1.3.0", undefined],
    ["g@^1", "1.10.0"],
    ["g@^1.2", "1.10.0"],
    ["g@~1.2", "1.2.5"],
    ["g@~1.2.0", "1.2.5"],
    ["g@1.2", "1.2.5"],
    ["g@1.x", "1.10.0"],
    ["g@>=1.0.0 <2", "1.10.0"],
    ["g@>=1.0.0 <1.10.0", "1.2.5"],
    ["g@<1", "0.9.0"],
    ["g@^0.9", "0.9.0"],
    ["g@*", "1.10.0"],
    ["g@=1.2.0", "1.2.0"],
    ["g@1.0.0 - 1.2.0", "1.2.0"],
    ["g@^2", undefined], // only prereleases of 2.0.0 exist
    ["g@>=2", undefined],
    ["g@^2.0.0-rc.0", "2.0.0-rc.2"],
    ["g@>=2.0.0-rc.1 <2.0.0-rc.2", "2.0.0-rc.1"],
    ["g@^1.11.0-rc.0", "1.11.0-rc.1"],
    // A prerelease in the range admits prereleases of that major.minor.patch only.
    ["g@>=1.0.0-beta.0 <2", "1.10.0"],
    ["g@>=1.0.0-beta.0 <1.0.1", "1.0.0"],
    ["g@>=1.0.0-beta.0 <1.0.0", "1.0.0-beta.1"],
    ["g@>=1.11.0-rc.0 <2", "1.11.0-rc.1"],
    ["g@>=2.0.0-rc.0", "2.0.0-rc.2"],
    ["g@^1 || ^3.0.0-alpha.0", "3.0.0-alpha.1"],
    ["g@^1 || ^3", "1.10.0"],
    ["g@^4", undefined],
  ];
  for (const [callable, expected] of table) {
    assert.equal(selectVersion(PUBLISHED, parseCallable(callable)), expected, callable);
  }
});

Deno.test("selectVersion() finds no latest version when every published version is a prerelease", () => {
  const versions = ["1.0.0-rc.1", "1.0.0-rc.2"];
  assert.equal(selectVersion(versions, parseCallable("g")), undefined);
  assert.equal(selectVersion(versions, parseCallable("g@^1")), undefined);
  assert.equal(selectVersion(versions, parseCallable("g@^1.0.0-rc.0")), "1.0.0-rc.2");
  assert.equal(selectVersion([], parseCallable("g")), undefined);
});
