/**
 * The step's input and output, owned by the runtime and shared by the `io`
 * capability and WASI stdin/stdout, so both paths obey the same output cap.
 *
 * @module
 */
import { GuestFault } from "../errors.ts";

/** A failure the guest reports itself (through `io.fail` or its exit code). */
export interface GuestReportedError {
  code?: string;
  message: string;
  retryable?: boolean;
  /** Free-form JSON the guest attaches (e.g. a backoff hint). */
  details?: unknown;
}

/** The step's input bytes and its growing output. */
export class StepIo {
  readonly input: Uint8Array;
  readonly outputLimit: number;
  #chunks: Uint8Array[] = [];
  #outputBytes = 0;
  #inputOffset = 0;
  reportedError: GuestReportedError | null = null;

  constructor(input: Uint8Array, outputLimit: number) {
    this.input = input;
    this.outputLimit = outputLimit;
  }

  /** Bytes written so far. */
  get outputBytes(): number {
    return this.#outputBytes;
  }

  /** Reads the next input bytes for a streaming reader (WASI fd 0); empty at the end. */
  readInput(max: number): Uint8Array {
    const chunk = this.input.subarray(this.#inputOffset, this.#inputOffset + max);
    this.#inputOffset += chunk.length;
    return chunk;
  }

  /**
   * Appends output (the result is the concatenation of every write). Faults
   * with `output_too_large` as soon as the cap would be crossed, so a guest
   * cannot make the host buffer more than the cap.
   */
  writeOutput(bytes: Uint8Array): void {
    if (this.#outputBytes + bytes.length > this.outputLimit) {
      throw new GuestFault(
        "output_too_large",
        `Cannot accept output as it exceeds limits.output_bytes (${this.outputLimit} bytes)`,
        { details: { limit: this.outputLimit } },
      );
    }
    this.#chunks.push(bytes.slice());
    this.#outputBytes += bytes.length;
  }

  /** The whole output as one buffer. */
  output(): Uint8Array {
    if (this.#chunks.length === 1) return this.#chunks[0];
    const out = new Uint8Array(this.#outputBytes);
    let offset = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}
