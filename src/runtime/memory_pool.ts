/**
 * Linear memories for host-supplied-memory guests (see host_memory.ts),
 * reused across steps without anything crossing from one step to the next.
 *
 * A memory comes back to the pool when its step has ended and the guest can
 * no longer run. It is kept only when it is still exactly its initial size
 * (a memory that grew would give the next guest more than a fresh instance
 * gets) and is zero-filled before it is kept, so a memory at rest holds
 * nothing of the step that used it and the next step gets one that is
 * indistinguishable from a fresh one. Zero-filling 128 KiB costs ~2 µs here;
 * faulting in a fresh memory's touched pages ~2.7 µs per 4 KiB page.
 *
 * @module
 */

const PAGE = 65536;

/** Options for {@link MemoryPool}. */
export interface MemoryPoolOptions {
  /** Memories kept per (initial, maximum) size; default 4. */
  perSize?: number;
  /** Largest initial size, in pages, worth keeping (zero-filling grows with it); default 256 (16 MiB). */
  maxPages?: number;
}

/** Scrubbed memories by size, handed out one step at a time. */
export class MemoryPool {
  readonly #free = new Map<string, WebAssembly.Memory[]>();
  readonly #perSize: number;
  readonly #maxPages: number;
  /** Memories handed out from the pool instead of created. */
  reused = 0;
  /** Memories created because the pool had none of that size. */
  created = 0;

  constructor(options: MemoryPoolOptions = {}) {
    this.#perSize = options.perSize ?? 4;
    this.#maxPages = options.maxPages ?? 256;
  }

  /** A zeroed memory of `initial` pages that can grow to `maximum`. */
  take(initial: number, maximum: number): WebAssembly.Memory {
    const kept = this.#free.get(key(initial, maximum))?.pop();
    if (kept) {
      this.reused++;
      return kept;
    }
    this.created++;
    return new WebAssembly.Memory({ initial, maximum });
  }

  /**
   * Returns a memory from {@link take} once the guest that used it cannot run
   * any more. Kept (zero-filled) when it has not grown and there is room.
   */
  give(memory: WebAssembly.Memory, initial: number, maximum: number): void {
    if (initial > this.#maxPages || memory.buffer.byteLength !== initial * PAGE) return;
    const k = key(initial, maximum);
    let free = this.#free.get(k);
    if (!free) this.#free.set(k, free = []);
    if (free.length >= this.#perSize) return;
    new Uint8Array(memory.buffer).fill(0);
    free.push(memory);
  }
}

function key(initial: number, maximum: number): string {
  return `${initial}/${maximum}`;
}

/** The process's pool, used by runStep unless told otherwise. */
export const processMemoryPool: MemoryPool = new MemoryPool();
