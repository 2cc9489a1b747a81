/**
 * Group commit for per-item statements: an item submitted while a batch is
 * out waits, and everything that waited goes out together in the next batch.
 * When idle an item goes out at once (after the current microtask, so items
 * submitted together share it): there is no time window to wait for, so an
 * unloaded caller pays no latency for the batching, and a loaded one sends
 * one statement for many items.
 *
 * One batch is out at a time. Items with the same key never share a batch
 * (the later one waits for the next), so a batch statement never sees an item
 * twice. `run` settles each item on its own (one item's failure need not be
 * its batch-mates'); a `run` that throws rejects each item of its batch.
 *
 * @module
 */

/** Options for {@link Coalescer}. */
export interface CoalescerOptions<I> {
  /** The most items per batch (≥ 1). */
  maxBatch: number;
  /** Items with the same key go in different batches (default: none alike). */
  key?: (item: I) => string;
}

interface Waiting<I, O> {
  item: I;
  key?: string;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/** What `run` gives back per item: its output or its failure (as `Promise.allSettled`). */
export type Settled<O> = PromiseSettledResult<O>;

/** `run`'s outputs for a batch where every item succeeded. */
export function allFulfilled<O>(values: readonly O[]): Settled<O>[] {
  return values.map((value) => ({ status: "fulfilled", value }));
}

/** Runs `fn`, settling its outcome (as one entry of `Promise.allSettled`); a throw is caught too. */
export async function settle<O>(fn: () => O | Promise<O>): Promise<Settled<O>> {
  try {
    return { status: "fulfilled", value: await fn() };
  } catch (reason) {
    return { status: "rejected", reason };
  }
}

/**
 * Runs `fn` for each item one after the other (each starts once the last has
 * settled), settling each: a batch's items retried alone, in a lock order
 * nobody else shares.
 */
export async function settleInTurn<I, O>(
  items: readonly I[],
  fn: (item: I) => Promise<O>,
): Promise<Settled<O>[]> {
  const results: Settled<O>[] = [];
  for (const item of items) results.push(await settle(() => fn(item)));
  return results;
}

/**
 * Batches items for `run`, which must settle every item, in order.
 *
 * @example
 * ```ts
 * import { allFulfilled, Coalescer } from "./coalescer.ts";
 * const sums = new Coalescer(
 *   (xs: number[]) => Promise.resolve(allFulfilled(xs.map((x) => x + 1))),
 *   { maxBatch: 16 },
 * );
 * const [a, b] = await Promise.all([sums.submit(1), sums.submit(2)]); // one call of run: [1, 2]
 * console.assert(a === 2 && b === 3);
 * ```
 */
export class Coalescer<I, O> {
  readonly #run: (items: I[]) => Promise<Settled<O>[]>;
  readonly #maxBatch: number;
  readonly #key?: (item: I) => string;
  readonly #waiting: Waiting<I, O>[] = [];
  #busy = false;

  constructor(run: (items: I[]) => Promise<Settled<O>[]>, options: CoalescerOptions<I>) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) {
      throw new RangeError(
        `Cannot batch as maxBatch is not an integer ≥ 1: current value is ${options.maxBatch}`,
      );
    }
    this.#run = run;
    this.#maxBatch = options.maxBatch;
    this.#key = options.key;
  }

  /** Items waiting for a batch (not counting the batch that is out). */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Resolves with `run`'s output for `item`, or rejects with its failure (or its batch's). */
  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      const key = this.#key?.(item); // a throwing key rejects this item only
      this.#waiting.push({ item, key, resolve, reject });
      if (!this.#busy) {
        this.#busy = true;
        queueMicrotask(() => this.#flush());
      }
    });
  }

  #take(): Waiting<I, O>[] {
    const batch: Waiting<I, O>[] = [];
    const keys = new Set<string>();
    for (let i = 0; i < this.#waiting.length && batch.length < this.#maxBatch;) {
      const key = this.#waiting[i].key;
      if (key !== undefined && keys.has(key)) {
        i++; // the same key again: it waits for the next batch
        continue;
      }
      if (key !== undefined) keys.add(key);
      batch.push(...this.#waiting.splice(i, 1));
    }
    return batch;
  }

  async #flush(): Promise<void> {
    for (let batch = this.#take(); batch.length > 0; batch = this.#take()) {
      try {
        const outputs = await this.#run(batch.map((w) => w.item));
        if (outputs.length !== batch.length) {
          throw new Error(
            `Cannot match a batch's outputs to its items as it returned ${outputs.length} outputs for ${batch.length} items`,
          );
        }
        batch.forEach((w, i) => {
          const out = outputs[i];
          if (out.status === "fulfilled") w.resolve(out.value);
          else w.reject(out.reason);
        });
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    this.#busy = false;
  }
}
