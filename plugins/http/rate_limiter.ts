/**
 * Per-key request limits for the broker half of the `http` capability: a
 * token bucket (`requests` per `perMs`, refilled continuously, starting full)
 * and a concurrency cap. Sandbox processes ask the broker for a lease before
 * each request and give it back after, so the limits hold across every
 * sandbox that runs the same handler.
 *
 * Over a limit the answer is an immediate refusal with a retry hint, never a
 * wait: a queued request would hold a sandbox and count against the step's
 * deadline, and the guest can decide itself whether to retry.
 *
 * Leases expire after `leaseTtlMs` so a sandbox that dies mid-request cannot
 * hold a concurrency slot forever.
 *
 * @module
 */

/** The limits for one key; omitted limits are not enforced. */
export interface RateLimitRule {
  /** Token bucket: at most `requests` per `perMs` (bursts up to `requests`). */
  readonly rate?: { readonly requests: number; readonly perMs: number };
  /** Leases held at once. */
  readonly maxConcurrent?: number;
  /** How long a lease lives unless released (the request's own timeout plus slack). */
  readonly leaseTtlMs: number;
}

/** The answer of {@link RateLimiter.acquire}. */
export type AcquireResult =
  | { readonly ok: true; readonly lease: string }
  | {
    readonly ok: false;
    readonly reason: "rate" | "concurrency";
    /** When a retry could succeed, in milliseconds (rate); the lease TTL bound (concurrency). */
    readonly retryAfterMs: number;
  };

/** Options for {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** Milliseconds clock; defaults to `performance.now` (monotonic). */
  now?: () => number;
  /** Lease ids; defaults to `crypto.randomUUID`. */
  newLease?: () => string;
}

interface Bucket {
  tokens: number;
  at: number;
  requests: number;
  perMs: number;
}

interface KeyState {
  bucket?: Bucket;
  /** Lease id → expiry time. */
  leases: Map<string, number>;
}

/**
 * Token buckets and concurrency caps keyed by handler.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "./rate_limiter.ts";
 * let now = 0;
 * const limiter = new RateLimiter({ now: () => now });
 * const rule = { rate: { requests: 1, perMs: 1000 }, leaseTtlMs: 5000 };
 * const first = limiter.acquire("h", rule);
 * console.assert(first.ok && !limiter.acquire("h", rule).ok);
 * now = 1000;
 * console.assert(limiter.acquire("h", rule).ok);
 * ```
 */
export class RateLimiter {
  readonly #now: () => number;
  readonly #newLease: () => string;
  readonly #keys = new Map<string, KeyState>();

  constructor(options: RateLimiterOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#newLease = options.newLease ?? (() => crypto.randomUUID());
  }

  /** Takes a token and a concurrency slot for `key`, or says why not. */
  acquire(key: string, rule: RateLimitRule): AcquireResult {
    const now = this.#now();
    const state = this.#state(key);
    for (const [lease, expires] of state.leases) {
      if (expires <= now) state.leases.delete(lease);
    }
    if (rule.maxConcurrent !== undefined && state.leases.size >= rule.maxConcurrent) {
      const soonest = Math.min(...state.leases.values());
      return { ok: false, reason: "concurrency", retryAfterMs: Math.max(0, soonest - now) };
    }
    if (rule.rate) {
      const bucket = this.#refill(state, rule.rate, now);
      if (bucket.tokens < 1) {
        const retryAfterMs = Math.ceil((1 - bucket.tokens) * bucket.perMs / bucket.requests);
        return { ok: false, reason: "rate", retryAfterMs };
      }
      bucket.tokens -= 1;
    }
    const lease = this.#newLease();
    state.leases.set(lease, now + rule.leaseTtlMs);
    return { ok: true, lease };
  }

  /** Returns a lease; false when it is unknown or already expired. */
  release(key: string, lease: string): boolean {
    const state = this.#keys.get(key);
    const released = state?.leases.delete(lease) ?? false;
    if (state && state.leases.size === 0 && !state.bucket) this.#keys.delete(key);
    return released;
  }

  /** Leases currently held for `key` (expired ones included until the next acquire). */
  inFlight(key: string): number {
    return this.#keys.get(key)?.leases.size ?? 0;
  }

  #state(key: string): KeyState {
    let state = this.#keys.get(key);
    if (!state) {
      state = { leases: new Map() };
      this.#keys.set(key, state);
    }
    return state;
  }

  #refill(
    state: KeyState,
    rate: { requests: number; perMs: number },
    now: number,
  ): Bucket {
    let bucket = state.bucket;
    if (!bucket) {
      bucket = { tokens: rate.requests, at: now, ...rate };
      state.bucket = bucket;
      return bucket;
    }
    // A changed rule (a new manifest for the same handler) keeps the tokens, capped.
    bucket.requests = rate.requests;
    bucket.perMs = rate.perMs;
    const elapsed = Math.max(0, now - bucket.at);
    bucket.tokens = Math.min(rate.requests, bucket.tokens + elapsed * rate.requests / rate.perMs);
    bucket.at = now;
    return bucket;
  }
}
