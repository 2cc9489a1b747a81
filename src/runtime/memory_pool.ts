/**
 * Linear memories for host-supplied-memory guests (see host_memory.ts),
 * reused across steps without anything crossing from one step to the next.
 *
 * A memory comes back to the pool when its step has ended and the guest can
 * no longer run, and is zero-filled before it is kept, so a memory at rest
 * holds nothing of the step that used it. What a guest may be handed depends
 * on what it declared (host_memory.ts, `MemoryReuse`):
 *
 * - `exact` (every guest, by default): only a memory of exactly its declared
 *   initial size, indistinguishable from a fresh one. A memory that grew is
 *   never reused for such a guest: an allocator that takes new memory from
 *   the top (wasi-libc's sbrk, Rust's dlmalloc) would start above the old
 *   top, wasting it and eating into `limits.memory`.
 * - `any_size` (a guest whose allocator starts at its heap base and uses the
 *   memory it finds, as AssemblyScript's runtimes do): also a larger zeroed
 *   one, the smallest that fits the step's expected need, so a step on a
 *   large envelope does not fault in again what the previous one grew.
 *
 * Zero-filling costs ~11 µs per MiB here; faulting in a fresh memory ~2.7 µs
 * per 4 KiB page touched (~700 µs per MiB).
 *
 * @module
 */

const PAGE = 65536;

/** Options for {@link MemoryPool}. */
export interface MemoryPoolOptions {
  /** Memories kept per (initial, maximum) pair (per owner for `any_size`); default 4. */
  perSize?: number;
  /** Largest memory, in pages, worth keeping (zero-filling grows with it); default 512 (32 MiB). */
  maxPages?: number;
  /** Most bytes kept across all sizes; default 64 MiB. */
  maxBytes?: number;
}

/** What a guest may be handed (see the module doc). */
export type MemoryReuse = "exact" | "any_size";

/** How a step asks for a memory. */
export interface TakeOptions {
  reuse?: MemoryReuse;
  /** For `any_size`: whose kept memories to choose from (see GuestMemoryLimits.owner). */
  owner?: string;
  /** For `any_size`: bytes of memory the step is expected to need in all. */
  expectBytes?: number;
}

/** A guest's memory limits and declaration, as PreparedGuest.importedMemory has them. */
export interface GuestMemoryLimits {
  initial: number;
  maximum: number;
  reuse: MemoryReuse;
  /**
   * Whose memories an `any_size` guest may be handed: only its own, so the
   * size it starts with never tells it how far another guest grew one.
   */
  owner: string;
}

/**
 * Memory a step is expected to need per byte of envelope, for picking a
 * reused memory: a catalog handler peaks at ~17× its envelope (663 KB →
 * 11 MiB measured). Only a preference: a step that needs more grows its
 * memory as usual.
 */
const MEMORY_PER_INPUT_BYTE = 16;

/**
 * How much larger than a step's expected need a kept memory may be and still
 * be handed to it: zero-filling the excess afterwards (~11 µs per MiB) must
 * not cost more than a fresh memory would (~100 µs of page faults for a
 * catalog guest's first pages).
 */
const SLACK_BYTES = 4 * 1024 * 1024;

/** Scrubbed memories by (initial, maximum), handed out one step at a time. */
export class MemoryPool {
  readonly #free = new Map<string, WebAssembly.Memory[]>();
  readonly #perSize: number;
  readonly #maxPages: number;
  readonly #maxBytes: number;
  #keptBytes = 0;
  /** Memories handed out from the pool instead of created. */
  reused = 0;
  /** Memories created because the pool had none that fit. */
  created = 0;

  constructor(options: MemoryPoolOptions = {}) {
    this.#perSize = options.perSize ?? 4;
    this.#maxPages = options.maxPages ?? 512;
    this.#maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  }

  /** Bytes of memory the pool holds now. */
  get keptBytes(): number {
    return this.#keptBytes;
  }

  /** A zeroed memory of at least `initial` pages (exactly, unless `any_size`) that can grow to `maximum`. */
  take(initial: number, maximum: number, options: TakeOptions = {}): WebAssembly.Memory {
    const free = this.#free.get(key(initial, maximum, options.reuse, options.owner));
    const at = free ? pick(free, initial * PAGE, options) : -1;
    if (at >= 0) {
      const [kept] = free!.splice(at, 1);
      this.#keptBytes -= kept.buffer.byteLength;
      this.reused++;
      return kept;
    }
    this.created++;
    return new WebAssembly.Memory({ initial, maximum });
  }

  /** {@link take} for a step of a guest with `limits` on an envelope of `inputBytes`. */
  takeFor(limits: GuestMemoryLimits, inputBytes: number): WebAssembly.Memory {
    return this.take(limits.initial, limits.maximum, {
      reuse: limits.reuse,
      owner: limits.owner,
      expectBytes: inputBytes * MEMORY_PER_INPUT_BYTE,
    });
  }

  /** {@link give} for a memory from {@link takeFor}. */
  giveFor(memory: WebAssembly.Memory, limits: GuestMemoryLimits): void {
    this.give(memory, limits.initial, limits.maximum, limits.reuse, limits.owner);
  }

  /**
   * Returns a memory from {@link take} once the guest that used it cannot run
   * any more. Kept, zero-filled, when the guest could be handed it again
   * (`exact`: it has not grown) and it is not above `maxPages`; to make room,
   * the largest kept memories go first (of its size when `perSize` is
   * reached, of any size when `maxBytes` is), so the pool follows the
   * workload instead of holding on to what an old, large step grew.
   */
  give(
    memory: WebAssembly.Memory,
    initial: number,
    maximum: number,
    reuse: MemoryReuse = "exact",
    owner?: string,
  ): void {
    const bytes = memory.buffer.byteLength;
    if (reuse === "exact" && bytes !== initial * PAGE) return;
    if (bytes > this.#maxPages * PAGE || bytes > this.#maxBytes) return;
    const k = key(initial, maximum, reuse, owner);
    const free = this.#free.get(k) ?? [];
    while (free.length >= this.#perSize) this.#dropLargest(free);
    while (this.#keptBytes + bytes > this.#maxBytes) {
      this.#dropLargest([...this.#free.values()].flat());
    }
    new Uint8Array(memory.buffer).fill(0);
    free.push(memory);
    this.#free.set(k, free); // dropping may have removed the emptied list
    this.#keptBytes += bytes;
  }

  /** Lets the largest of `candidates` (all kept) go. */
  #dropLargest(candidates: WebAssembly.Memory[]): void {
    let largest = candidates[0];
    for (const m of candidates) {
      if (m.buffer.byteLength > largest.buffer.byteLength) largest = m;
    }
    for (const [k, list] of this.#free) {
      const at = list.indexOf(largest);
      if (at < 0) continue;
      list.splice(at, 1);
      if (list.length === 0) this.#free.delete(k);
      this.#keptBytes -= largest.buffer.byteLength;
      return;
    }
  }
}

/**
 * Index of the memory to hand out, or -1: for `exact`, one of exactly
 * `initialBytes`; for `any_size`, the smallest that holds the expected need
 * unless it is more than SLACK_BYTES larger (then a fresh one is cheaper),
 * else the largest (it has to grow less than any other).
 */
function pick(free: WebAssembly.Memory[], initialBytes: number, options: TakeOptions): number {
  if (options.reuse !== "any_size") {
    return free.findIndex((m) => m.buffer.byteLength === initialBytes);
  }
  const need = Math.max(initialBytes, options.expectBytes ?? 0);
  let fit = -1;
  let largest = -1;
  for (let i = 0; i < free.length; i++) {
    const size = free[i].buffer.byteLength;
    if (size >= need && (fit < 0 || size < free[fit].buffer.byteLength)) fit = i;
    if (largest < 0 || size > free[largest].buffer.byteLength) largest = i;
  }
  if (fit >= 0) return free[fit].buffer.byteLength - need <= SLACK_BYTES ? fit : -1;
  return largest;
}

function key(initial: number, maximum: number, reuse?: MemoryReuse, owner?: string): string {
  const size = `${initial}/${maximum}`;
  return reuse === "any_size" ? `${size}/any_size/${owner ?? ""}` : size;
}

/** The process's pool, used by runStep unless told otherwise. */
export const processMemoryPool: MemoryPool = new MemoryPool();
