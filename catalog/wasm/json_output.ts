// The result writer of the catalog's wasm build (AssemblyScript, not
// portable): streams a JsonValue's compact JSON text to the `io` output as
// UTF-8, in chunks of a fixed buffer, without building the text first.
//
// The bytes are exactly `String.UTF8.encode(writeJson(value))` of the
// portable writer (catalog/core/json_write.ts): same escapes (`\"`, `\\`,
// `\b \t \n \f \r`, other controls and lone surrogates as lowercase `\u00xx`
// / `\udxxx`), numbers through the same `formatJsonNumber`, surrogate pairs
// as one 4-byte sequence. catalog/wasm/json_text_test.ts and the catalog's
// differential tests compare the two builds byte for byte.
//
// Why: the portable writer collects pieces, joins them into chunks, joins
// the chunks and then encodes the whole text to UTF-8 - in the wasm build,
// whose bump allocator never frees, that is ~4.5 bytes of fresh memory per
// output byte (each new 4 KiB page costs ~3 µs to fault in) and three copies.
// Here the output costs one 32 KiB buffer and one pass, and the host
// concatenates the chunks (`io.write_output` appends).
import * as io from "../sdk/abi/io";
import { JsonValue, Kind } from "../core/json_value.ts";
import { formatJsonNumber } from "../core/json_write.ts";

/**
 * Bytes buffered before the first write to the host; each later buffer is
 * twice as large, up to MAX_CHUNK. Small results (most of them) cost a small
 * buffer and one write; a large one costs at most twice its last buffer in
 * fresh memory. 4 KiB rather than 1: a ~2 KB result (transform at a 10 KB
 * envelope) took two host calls and the host a concatenation.
 */
const FIRST_CHUNK: usize = 4096;
const MAX_CHUNK: usize = 65536;
/** The most one unit of output needs (`\udxxx` is 6 bytes, a 4-byte sequence 4). */
const MAX_STEP: usize = 8;
const HEX: string = "0123456789abcdef";

/** Writes `value` as compact JSON text in UTF-8 to the step's output. */
export function writeResultValue(value: JsonValue): void {
  const out = new Utf8Output();
  out.write(value);
  out.flush(true);
}

class Utf8Output {
  size: usize = FIRST_CHUNK;
  buf: ArrayBuffer = new ArrayBuffer(<i32> FIRST_CHUNK);
  start: usize;
  pos: usize;
  end: usize;

  constructor() {
    this.start = changetype<usize>(this.buf);
    this.pos = this.start;
    this.end = this.start + FIRST_CHUNK;
  }

  /** Writes the buffered bytes to the host; unless `last`, a larger buffer follows. */
  flush(last: bool = false): void {
    const n = this.pos - this.start;
    if (n > 0) io.write_output(this.start, <i32> n);
    if (!last && this.size < MAX_CHUNK) {
      this.size <<= 1;
      this.buf = new ArrayBuffer(<i32> this.size);
      this.start = changetype<usize>(this.buf);
      this.end = this.start + this.size;
    }
    this.pos = this.start;
  }

  /** Room for `n` more bytes (n <= MAX_STEP * 2). */
  room(n: usize): void {
    if (this.pos + n > this.end) this.flush();
  }

  byte(b: u32): void {
    if (this.pos >= this.end) this.flush();
    store<u8>(this.pos, <u8> b);
    this.pos++;
  }

  /** ASCII text (literals, numbers). */
  ascii(text: string): void {
    const n = text.length;
    for (let i = 0; i < n; i++) this.byte(<u32> text.charCodeAt(i));
  }

  /** An i32 in decimal, as `i32.toString()` writes it. */
  int(x: i32): void {
    this.room(11);
    let u: u32 = <u32> x;
    if (x < 0) {
      store<u8>(this.pos, 0x2d);
      this.pos++;
      u = <u32> (0 - x);
    }
    let digits: usize = 1;
    for (let t = u; t >= 10; t /= 10) digits++;
    let p = this.pos + digits;
    this.pos = p;
    do {
      p--;
      store<u8>(p, <u8> (0x30 + u % 10));
      u /= 10;
    } while (u != 0);
  }

  number(x: f64): void {
    // formatJsonNumber's first cases, without allocating: integers in i32 range.
    if (x == x && x != 0 && x >= -2147483648 && x <= 2147483647 && x == Math.floor(x)) {
      this.int(<i32> x);
    } else {
      this.ascii(formatJsonNumber(x));
    }
  }

  /** A JSON string literal, quotes included. */
  string(text: string): void {
    this.byte(0x22);
    let p = changetype<usize>(text);
    const stop = p + (<usize> text.length << 1);
    // The position in locals: this loop is most of the writer's time.
    let pos = this.pos;
    let end = this.end;
    while (p < stop) {
      if (pos + MAX_STEP > end) {
        this.pos = pos;
        this.flush();
        pos = this.pos;
        end = this.end;
      }
      const c = <u32> load<u16>(p);
      p += 2;
      if (c < 0x80) {
        if (c >= 0x20 && c != 0x22 && c != 0x5c) {
          store<u8>(pos, <u8> c);
          pos++;
        } else {
          pos = escape(pos, c);
        }
      } else if (c < 0x800) {
        store<u8>(pos, <u8> (0xc0 | (c >> 6)));
        store<u8>(pos + 1, <u8> (0x80 | (c & 63)));
        pos += 2;
      } else if (c < 0xd800 || c > 0xdfff) {
        store<u8>(pos, <u8> (0xe0 | (c >> 12)));
        store<u8>(pos + 1, <u8> (0x80 | ((c >> 6) & 63)));
        store<u8>(pos + 2, <u8> (0x80 | (c & 63)));
        pos += 3;
      } else {
        // A high surrogate followed by a low one is a pair: one code point.
        const d = p < stop ? <u32> load<u16>(p) : 0;
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          p += 2;
          const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          store<u8>(pos, <u8> (0xf0 | (cp >> 18)));
          store<u8>(pos + 1, <u8> (0x80 | ((cp >> 12) & 63)));
          store<u8>(pos + 2, <u8> (0x80 | ((cp >> 6) & 63)));
          store<u8>(pos + 3, <u8> (0x80 | (cp & 63)));
          pos += 4;
        } else {
          pos = escape(pos, c);
        }
      }
    }
    this.pos = pos;
    this.byte(0x22);
  }

  /** Iterative, like the portable writer: nesting is bounded only by memory. */
  write(root: JsonValue): void {
    const stack = new Array<JsonValue>();
    const next = new Array<i32>();
    let value = root;
    for (;;) {
      const kind = value.kind;
      if (kind == Kind.String) {
        this.string(value.str);
      } else if (kind == Kind.Number) {
        this.number(value.num);
      } else if (kind == Kind.Array || kind == Kind.Object) {
        const open: u32 = kind == Kind.Array ? 0x5b : 0x7b;
        this.byte(open);
        if (value.size() == 0) {
          this.byte(open + 2); // ] and } follow [ and { by two
        } else {
          stack.push(value);
          next.push(0);
        }
      } else {
        this.ascii(kind == Kind.Null ? "null" : kind == Kind.True ? "true" : "false");
      }

      // The next value to write, closing finished containers.
      let found = false;
      while (stack.length > 0) {
        const depth = stack.length;
        // In range: depth is the stacks' length.
        const top = unchecked(stack[depth - 1]);
        const i = unchecked(next[depth - 1]);
        const isArray = top.kind == Kind.Array;
        const members = isArray ? top.items! : top.vals!;
        if (i < members.length) {
          unchecked(next[depth - 1] = i + 1);
          if (i > 0) this.byte(0x2c);
          if (!isArray) {
            this.string(unchecked(top.keys![i]));
            this.byte(0x3a);
          }
          value = unchecked(members[i]);
          found = true;
          break;
        }
        stack.pop();
        next.pop();
        this.byte(top.kind == Kind.Array ? 0x5d : 0x7d);
      }
      if (!found) return;
    }
  }
}

/**
 * Writes `\"`, `\\`, a short control escape or `\u` and four lowercase hex
 * digits for `c` at `pos` (room for 6 bytes); returns the position after it.
 */
function escape(pos: usize, c: u32): usize {
  let short: u32 = 0;
  if (c == 0x22) short = 0x22;
  else if (c == 0x5c) short = 0x5c;
  else if (c == 0x08) short = 0x62;
  else if (c == 0x09) short = 0x74;
  else if (c == 0x0a) short = 0x6e;
  else if (c == 0x0c) short = 0x66;
  else if (c == 0x0d) short = 0x72;
  store<u8>(pos, 0x5c);
  if (short != 0) {
    store<u8>(pos + 1, <u8> short);
    return pos + 2;
  }
  store<u8>(pos + 1, 0x75);
  store<u8>(pos + 2, <u8> HEX.charCodeAt((c >> 12) & 15));
  store<u8>(pos + 3, <u8> HEX.charCodeAt((c >> 8) & 15));
  store<u8>(pos + 4, <u8> HEX.charCodeAt((c >> 4) & 15));
  store<u8>(pos + 5, <u8> HEX.charCodeAt(c & 15));
  return pos + 6;
}
