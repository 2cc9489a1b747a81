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
 * twice. A batch that fails rejects each of its items with the error.
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
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Batches items for `run`, which must return one output per item, in order.
 *
 * @example
 * ```ts
 * const sums = new Coalescer(async (xs: number[]) => xs.map((x) => x + 1), { maxBatch: 16 });
 * const [a, b] = await Promise.all([sums.submit(1), sums.submit(2)]); // one call of run: [1, 2]
 * console.assert(a === 2 && b === 3);
 * ```
 */
export class Coalescer<I, O> {
  readonly #run: (items: I[]) => Promise<O[]>;
  readonly #maxBatch: number;
  readonly #key?: (item: I) => string;
  readonly #waiting: Waiting<I, O>[] = [];
  #busy = false;

  constructor(run: (items: I[]) => Promise<O[]>, options: CoalescerOptions<I>) {
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

  /** Resolves with `run`'s output for `item`, or rejects with its batch's error. */
  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
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
      const key = this.#key?.(this.#waiting[i].item);
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
        batch.forEach((w, i) => w.resolve(outputs[i]));
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    this.#busy = false;
  }
}
