/**
 * Host-controlled time and randomness for one step. Real by default; virtual
 * (a fixed start, a fixed tick per reading and a seeded random stream) when a
 * step is replayed, so the same input gives the same output.
 *
 * @module
 */

/** Options for a virtual clock. */
export interface VirtualClockOptions {
  /** Wall-clock start, in milliseconds since the Unix epoch. */
  startMs: number;
  /** Nanoseconds every reading advances the clock by. Default 1,000 (1 µs). */
  tickNs?: number;
  /** Seed of the random stream. Default 0. */
  seed?: number;
}

/** Time and randomness as a step sees them. */
export interface StepClock {
  /** True when time and randomness are virtual (deterministic). */
  readonly virtual: boolean;
  /** Wall-clock time in nanoseconds since the Unix epoch. */
  wallNs(): bigint;
  /** Monotonic time in nanoseconds since an arbitrary start. */
  monotonicNs(): bigint;
  /** Fills `bytes` with random bytes. */
  fillRandom(bytes: Uint8Array): void;
}

/**
 * Creates a step clock.
 *
 * @example
 * ```ts
 * import { createStepClock } from "./step_clock.ts";
 * const clock = createStepClock({ startMs: 0, tickNs: 10 });
 * console.assert(clock.wallNs() === 10n && clock.wallNs() === 20n);
 * ```
 */
export function createStepClock(virtual?: VirtualClockOptions): StepClock {
  return virtual ? new VirtualClock(virtual) : realClock;
}

const realClock: StepClock = {
  virtual: false,
  wallNs: () => BigInt(Date.now()) * 1_000_000n,
  monotonicNs: () => BigInt(Math.round(performance.now() * 1_000_000)),
  fillRandom: (bytes) => {
    // getRandomValues takes at most 65,536 bytes per call.
    for (let i = 0; i < bytes.length; i += 65536) {
      crypto.getRandomValues(bytes.subarray(i, i + 65536));
    }
  },
};

class VirtualClock implements StepClock {
  readonly virtual = true;
  #elapsed = 0n;
  readonly #start: bigint;
  readonly #tick: bigint;
  #state: number;

  constructor(options: VirtualClockOptions) {
    this.#start = BigInt(Math.trunc(options.startMs)) * 1_000_000n;
    this.#tick = BigInt(options.tickNs ?? 1000);
    this.#state = (options.seed ?? 0) >>> 0;
  }

  wallNs(): bigint {
    this.#elapsed += this.#tick;
    return this.#start + this.#elapsed;
  }

  monotonicNs(): bigint {
    this.#elapsed += this.#tick;
    return this.#elapsed;
  }

  fillRandom(bytes: Uint8Array): void {
    // mulberry32: tiny, fast and fully determined by the seed.
    for (let i = 0; i < bytes.length; i++) {
      let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      bytes[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
    }
  }
}
