import assert from "node:assert/strict";
import type { Resolution, ServedHandler } from "./handler_resolver.ts";
import { KnownDefinitions } from "./known_definitions.ts";
import type { StepDefinition } from "../tasker/step_definition.ts";

function definition(callable: string): StepDefinition {
  return {
    name: "s",
    handler: { callable, initialization: {} },
    type: "standard",
    dependencies: [],
    retry: undefined,
    timeout_seconds: undefined,
  };
}

function handler(name: string): ServedHandler {
  return { name, version: "1.0.0" } as ServedHandler;
}

/** A resolver whose fresh answers and registry answers the test sets; it counts look-ups. */
function fakeResolver(fresh: Record<string, ServedHandler>, registry: Record<string, Resolution>) {
  const lookups: string[] = [];
  return {
    lookups,
    servedNow: (callable: string) => fresh[callable],
    resolve: (callable: string) => {
      lookups.push(callable);
      return Promise.resolve(
        registry[callable] ?? { served: false as const, reason: "not_found" as const, message: "" },
      );
    },
  };
}

Deno.test("KnownDefinitions offers a definition only while its callable is served", async () => {
  const known = new KnownDefinitions();
  known.remember("d1", definition("catalog.transform"));
  known.remember("d2", definition("catalog.validate"));
  known.remember("d3", definition("gone.handler"));
  const transform = handler("catalog.transform");
  const validate = handler("catalog.validate");
  const resolver = fakeResolver({ "catalog.transform": transform }, {
    "catalog.validate": { served: true, handler: validate },
  });
  const claimable = await known.claimable(resolver);
  assert.deepEqual([...claimable.definitions.keys()], ["d1", "d2"]);
  assert.equal(claimable.handlers.get("d1"), transform);
  assert.equal(claimable.handlers.get("d2"), validate);
  // A fresh resolution answers at once; stale ones are looked up again, once per callable.
  assert.deepEqual(resolver.lookups.sort(), ["catalog.validate", "gone.handler"]);
});

Deno.test("KnownDefinitions forgets a callable found no longer served", async () => {
  const known = new KnownDefinitions();
  known.remember("gone", definition("gone.handler"));
  known.remember("kept", definition("catalog.transform"));
  const resolver = fakeResolver({ "catalog.transform": handler("catalog.transform") }, {});
  await known.claimable(resolver);
  assert.equal(known.size, 1);
  await known.claimable(resolver);
  assert.deepEqual(resolver.lookups, ["gone.handler"], "looked up once, then forgotten");
});

Deno.test("KnownDefinitions looks a callable up once for several definitions", async () => {
  const known = new KnownDefinitions();
  known.remember("a", definition("catalog.transform"));
  known.remember("b", definition("catalog.transform"));
  const resolver = fakeResolver({}, {
    "catalog.transform": { served: true, handler: handler("catalog.transform") },
  });
  const claimable = await known.claimable(resolver);
  assert.deepEqual([...claimable.definitions.keys()], ["a", "b"]);
  assert.deepEqual(resolver.lookups, ["catalog.transform"]);
});

Deno.test("KnownDefinitions keeps the most recently used definitions up to its capacity", async () => {
  const known = new KnownDefinitions({ capacity: 2 });
  known.remember("a", definition("x"));
  known.remember("b", definition("x"));
  known.remember("a", definition("x")); // used again: now the most recent
  known.remember("c", definition("x"));
  assert.equal(known.size, 2);
  const claimable = await known.claimable(fakeResolver({ x: handler("x") }, {}));
  assert.deepEqual([...claimable.definitions.keys()].sort(), ["a", "c"]);
});

Deno.test("KnownDefinitions resolves stale callables of its most recently used definitions only", async () => {
  const known = new KnownDefinitions({ refreshLimit: 2 });
  known.remember("old", definition("c.old"));
  known.remember("mid", definition("c.mid"));
  known.remember("new", definition("c.new"));
  known.remember("mid", definition("c.mid")); // used again: now the most recent
  const served = (c: string) => ({ served: true as const, handler: handler(c) });
  const resolver = fakeResolver({}, {
    "c.old": served("c.old"),
    "c.mid": served("c.mid"),
    "c.new": served("c.new"),
  });
  const claimable = await known.claimable(resolver);
  assert.deepEqual(resolver.lookups.sort(), ["c.mid", "c.new"]);
  assert.deepEqual([...claimable.definitions.keys()].sort(), ["mid", "new"]);
  // A fresh resolution counts whatever its rank.
  const fresh = await known.claimable(fakeResolver({ "c.old": handler("c.old") }, {}));
  assert.deepEqual([...fresh.definitions.keys()], ["old"]);
});

Deno.test("KnownDefinitions refuses a capacity or refresh limit that is not a positive integer", () => {
  for (const value of [0, -1, 1.5, NaN]) {
    assert.throws(() => new KnownDefinitions({ capacity: value }), RangeError, String(value));
    assert.throws(() => new KnownDefinitions({ refreshLimit: value }), RangeError, String(value));
  }
});
