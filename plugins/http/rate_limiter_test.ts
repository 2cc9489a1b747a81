import assert from "node:assert/strict";
import { RateLimiter } from "./rate_limiter.ts";

function clock() {
  const state = { now: 0 };
  return { state, now: () => state.now };
}

Deno.test("RateLimiter allows a full bucket of requests, then refuses with a retry hint", () => {
  const c = clock();
  const limiter = new RateLimiter({ now: c.now });
  const rule = { rate: { requests: 3, perMs: 3000 }, leaseTtlMs: 10_000 };
  for (let i = 0; i < 3; i++) assert.ok(limiter.acquire("h", rule).ok, `request ${i}`);
  const refused = limiter.acquire("h", rule);
  assert.deepEqual(refused, { ok: false, reason: "rate", retryAfterMs: 1000 });
  c.state.now = 999;
  assert.equal(limiter.acquire("h", rule).ok, false);
  c.state.now = 1000;
  assert.ok(limiter.acquire("h", rule).ok, "one token refilled after per_ms / requests");
  assert.equal(limiter.acquire("h", rule).ok, false);
});

Deno.test("RateLimiter refills continuously but never beyond the bucket size", () => {
  const c = clock();
  const limiter = new RateLimiter({ now: c.now });
  const rule = { rate: { requests: 2, perMs: 1000 }, leaseTtlMs: 10_000 };
  assert.ok(limiter.acquire("h", rule).ok);
  assert.ok(limiter.acquire("h", rule).ok);
  c.state.now = 1_000_000;
  assert.ok(limiter.acquire("h", rule).ok);
  assert.ok(limiter.acquire("h", rule).ok);
  assert.equal(limiter.acquire("h", rule).ok, false, "a long idle time refills only 2 tokens");
});

Deno.test("RateLimiter keeps separate buckets per key", () => {
  const limiter = new RateLimiter({ now: () => 0 });
  const rule = { rate: { requests: 1, perMs: 1000 }, leaseTtlMs: 10_000 };
  assert.ok(limiter.acquire("a", rule).ok);
  assert.ok(limiter.acquire("b", rule).ok);
  assert.equal(limiter.acquire("a", rule).ok, false);
});

Deno.test("RateLimiter caps concurrent leases and frees a slot on release", () => {
  const limiter = new RateLimiter({ now: () => 0 });
  const rule = { maxConcurrent: 2, leaseTtlMs: 10_000 };
  const a = limiter.acquire("h", rule);
  const b = limiter.acquire("h", rule);
  assert.ok(a.ok && b.ok);
  assert.deepEqual(limiter.acquire("h", rule), {
    ok: false,
    reason: "concurrency",
    retryAfterMs: 10_000,
  });
  assert.equal(limiter.inFlight("h"), 2);
  assert.equal(limiter.release("h", a.lease), true);
  assert.equal(limiter.release("h", a.lease), false, "a lease is returned once");
  assert.equal(limiter.release("other", b.lease), false, "a lease belongs to its key");
  assert.ok(limiter.acquire("h", rule).ok);
});

Deno.test("RateLimiter reclaims leases a dead sandbox never released", () => {
  const c = clock();
  const limiter = new RateLimiter({ now: c.now });
  const rule = { maxConcurrent: 1, leaseTtlMs: 500 };
  assert.ok(limiter.acquire("h", rule).ok);
  c.state.now = 499;
  assert.equal(limiter.acquire("h", rule).ok, false);
  c.state.now = 500;
  assert.ok(limiter.acquire("h", rule).ok);
});

Deno.test("RateLimiter does not spend a token when the concurrency cap refuses", () => {
  const limiter = new RateLimiter({ now: () => 0 });
  const rule = { rate: { requests: 2, perMs: 60_000 }, maxConcurrent: 1, leaseTtlMs: 10_000 };
  const first = limiter.acquire("h", rule);
  assert.ok(first.ok);
  const busy = limiter.acquire("h", rule);
  assert.ok(!busy.ok && busy.reason === "concurrency");
  limiter.release("h", first.lease);
  assert.ok(limiter.acquire("h", rule).ok, "the second token is still there");
  limiter.release("h", "unknown");
});

Deno.test("RateLimiter follows a changed rule for the same key", () => {
  const limiter = new RateLimiter({ now: () => 0 });
  assert.ok(limiter.acquire("h", { rate: { requests: 5, perMs: 1000 }, leaseTtlMs: 1 }).ok);
  const tighter = { rate: { requests: 1, perMs: 1000 }, leaseTtlMs: 1 };
  assert.ok(limiter.acquire("h", tighter).ok, "the 4 tokens left are capped at 1");
  assert.equal(limiter.acquire("h", tighter).ok, false);
});
