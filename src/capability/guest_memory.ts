/**
 * Bounds-checked access to a guest's linear memory for host functions.
 * Out-of-range pointers are the guest's bug: they fault the step with
 * `bad_pointer` instead of reading host memory or throwing a RangeError.
 *
 * @module
 */
import { GuestFault } from "../errors.ts";

const decoder = new TextDecoder("utf-8", { fatal: true });

/** A guest's memory as host functions see it. */
export class GuestMemory {
  #memory: WebAssembly.Memory | undefined;

  /** Binds the instance's memory; host calls before this fault. */
  attach(memory: WebAssembly.Memory | undefined): void {
    this.#memory = memory;
  }

  /** Current size in bytes (0 before a memory is attached). */
  get size(): number {
    return this.#memory?.buffer.byteLength ?? 0;
  }

  /** A live view of `len` bytes at `ptr`; valid until the guest runs again. */
  view(ptr: number, len: number): Uint8Array {
    const buffer = this.#buffer();
    // Pointers arrive as signed i32: reinterpret as unsigned before checking.
    const start = ptr >>> 0;
    const length = len >>> 0;
    if (start + length > buffer.byteLength) {
      throw new GuestFault(
        "bad_pointer",
        `Cannot access guest memory as [${start}, ${
          start + length
        }) is outside its ${buffer.byteLength} bytes`,
      );
    }
    return new Uint8Array(buffer, start, length);
  }

  /** A copy of `len` bytes at `ptr`. */
  read(ptr: number, len: number): Uint8Array {
    return this.view(ptr, len).slice();
  }

  /** UTF-8 text at `ptr`; `null` when the bytes are not valid UTF-8. */
  readString(ptr: number, len: number): string | null {
    try {
      return decoder.decode(this.view(ptr, len));
    } catch (error) {
      if (error instanceof TypeError) return null;
      throw error;
    }
  }

  /** Copies `bytes` to `ptr`. */
  write(ptr: number, bytes: Uint8Array): void {
    this.view(ptr, bytes.length).set(bytes);
  }

  /** A DataView over the whole memory, for WASI's structured writes. */
  dataView(): DataView {
    return new DataView(this.#buffer());
  }

  #buffer(): ArrayBuffer {
    if (!this.#memory) {
      throw new GuestFault("bad_pointer", "Cannot access guest memory as the guest exports none");
    }
    return this.#memory.buffer as ArrayBuffer;
  }
}
