/**
 * Length-prefixed frames for the pipe between the broker and a sandbox
 * process: a small JSON header plus a raw binary payload, so module bytes,
 * step input and step output cross the pipe as they are (no base64).
 *
 * Layout, little-endian:
 *
 * ```
 * magic "WBF1" (4 bytes) | header length u32 | payload length u32 | header (UTF-8 JSON) | payload
 * ```
 *
 * The magic catches a stream that got out of step (a stray `console.log`
 * in the child, a bug) at the next frame instead of misreading lengths.
 *
 * @module
 */

/** Bytes before the header: magic, header length, payload length. */
export const FRAME_PREFIX_BYTES = 12;

/** "WBF1" read as a little-endian u32. */
const MAGIC = 0x31464257;

/** Payloads up to this size are copied into the frame's single buffer (one write). */
const INLINE_PAYLOAD_BYTES = 64 * 1024;

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Every frame header is a JSON object with a message type `t`. */
export interface FrameHeader {
  readonly t: string;
  readonly [key: string]: unknown;
}

/** A decoded frame. */
export interface Frame {
  readonly header: FrameHeader;
  /**
   * The raw payload (empty when none). A view into the decoder's input or
   * into a buffer the decoder allocated; it stays valid as long as the
   * caller does not reuse the chunks it pushed.
   */
  readonly payload: Uint8Array;
}

/** The byte stream is not a valid sequence of frames; the connection is unusable. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

/**
 * Encodes one frame as the buffers to write, in order. Small payloads are
 * copied behind the header so the frame is one buffer (one write); large
 * ones are returned as a second buffer so they are not copied.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameDecoder } from "./frame_codec.ts";
 * const [bytes] = encodeFrame({ t: "run", id: 1 }, new Uint8Array([1, 2, 3]));
 * const [frame] = new FrameDecoder().push(bytes);
 * console.assert(frame.header.t === "run" && frame.payload.length === 3);
 * ```
 */
export function encodeFrame<H extends { readonly t: string }>(
  header: H,
  payload: Uint8Array = EMPTY,
): Uint8Array[] {
  const json = encoder.encode(JSON.stringify(header));
  const inline = payload.length <= INLINE_PAYLOAD_BYTES;
  const head = new Uint8Array(FRAME_PREFIX_BYTES + json.length + (inline ? payload.length : 0));
  const view = new DataView(head.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, json.length, true);
  view.setUint32(8, payload.length, true);
  head.set(json, FRAME_PREFIX_BYTES);
  if (!inline) return [head, payload];
  if (payload.length) head.set(payload, FRAME_PREFIX_BYTES + json.length);
  return [head];
}

/** Options for {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest header accepted, in bytes. Default 256 MiB. */
  maxHeaderBytes?: number;
  /** Largest payload accepted, in bytes. Default 1 GiB. */
  maxPayloadBytes?: number;
}

/**
 * Reassembles frames from arbitrary chunks of a byte stream (reads of a
 * pipe split and merge frames freely). Each byte is copied at most once:
 * a frame that lies inside one chunk is returned as views into it.
 *
 * Throws {@link FrameError} on a bad magic, a length above the limits, or
 * a header that is not a JSON object with a string `t`; after that the
 * decoder must be discarded.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameDecoder } from "./frame_codec.ts";
 * const [bytes] = encodeFrame({ t: "ping" });
 * const decoder = new FrameDecoder();
 * console.assert(decoder.push(bytes.subarray(0, 5)).length === 0);
 * console.assert(decoder.push(bytes.subarray(5))[0].header.t === "ping");
 * ```
 */
export class FrameDecoder {
  readonly #maxHeader: number;
  readonly #maxPayload: number;
  readonly #chunks: Uint8Array[] = [];
  /** Read offset into `#chunks[0]`. */
  #offset = 0;
  /** Unread bytes across all chunks. */
  #size = 0;
  #headerLength = -1;
  #payloadLength = -1;

  constructor(options: FrameDecoderOptions = {}) {
    this.#maxHeader = options.maxHeaderBytes ?? 256 * 1024 * 1024;
    this.#maxPayload = options.maxPayloadBytes ?? 1024 * 1024 * 1024;
  }

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.#size;
  }

  /** Adds a chunk; returns the frames it completed, in order. */
  push(chunk: Uint8Array): Frame[] {
    if (chunk.length) {
      this.#chunks.push(chunk);
      this.#size += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.#headerLength < 0) {
        if (this.#size < FRAME_PREFIX_BYTES) break;
        this.#readPrefix();
      }
      const total = FRAME_PREFIX_BYTES + this.#headerLength + this.#payloadLength;
      if (this.#size < total) break;
      const bytes = this.#take(total);
      const headerEnd = FRAME_PREFIX_BYTES + this.#headerLength;
      frames.push({
        header: parseHeader(bytes.subarray(FRAME_PREFIX_BYTES, headerEnd)),
        payload: this.#payloadLength ? bytes.subarray(headerEnd, total) : EMPTY,
      });
      this.#headerLength = this.#payloadLength = -1;
    }
    return frames;
  }

  #readPrefix(): void {
    const prefix = this.#peek(FRAME_PREFIX_BYTES);
    const view = new DataView(prefix.buffer, prefix.byteOffset, FRAME_PREFIX_BYTES);
    const magic = view.getUint32(0, true);
    if (magic !== MAGIC) {
      throw new FrameError(
        `Cannot decode frame as the stream is out of step: current magic is 0x${
          magic.toString(16).padStart(8, "0")
        }`,
      );
    }
    const headerLength = view.getUint32(4, true);
    const payloadLength = view.getUint32(8, true);
    if (headerLength > this.#maxHeader) {
      throw new FrameError(
        `Cannot decode frame as its header exceeds ${this.#maxHeader} bytes: current value is ${headerLength}`,
      );
    }
    if (payloadLength > this.#maxPayload) {
      throw new FrameError(
        `Cannot decode frame as its payload exceeds ${this.#maxPayload} bytes: current value is ${payloadLength}`,
      );
    }
    this.#headerLength = headerLength;
    this.#payloadLength = payloadLength;
  }

  /** The next `n` bytes without consuming them (copied only when they span chunks). */
  #peek(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first.length - this.#offset >= n) return first.subarray(this.#offset, this.#offset + n);
    return this.#gather(n, false);
  }

  /** Consumes the next `n` bytes: a view when they lie in one chunk, else one copy. */
  #take(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first.length - this.#offset >= n) {
      const out = first.subarray(this.#offset, this.#offset + n);
      this.#offset += n;
      this.#size -= n;
      if (this.#offset === first.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
      return out;
    }
    return this.#gather(n, true);
  }

  #gather(n: number, consume: boolean): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    let index = 0;
    let offset = this.#offset;
    while (filled < n) {
      const chunk = this.#chunks[index];
      const count = Math.min(chunk.length - offset, n - filled);
      out.set(chunk.subarray(offset, offset + count), filled);
      filled += count;
      offset += count;
      if (offset === chunk.length) {
        index++;
        offset = 0;
      }
    }
    if (consume) {
      this.#chunks.splice(0, index);
      this.#offset = offset;
      this.#size -= n;
    }
    return out;
  }
}

function parseHeader(bytes: Uint8Array): FrameHeader {
  let header: unknown;
  try {
    header = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new FrameError(
      `Cannot decode frame header as it is not UTF-8 JSON: ${(error as Error).message}`,
    );
  }
  if (
    typeof header !== "object" || header === null || Array.isArray(header) ||
    typeof (header as { t?: unknown }).t !== "string"
  ) {
    throw new FrameError(
      `Cannot decode frame header as it is not an object with a string "t": current value is ${
        JSON.stringify(header)?.slice(0, 100)
      }`,
    );
  }
  return header as FrameHeader;
}
