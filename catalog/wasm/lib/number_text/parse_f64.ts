// JSON number text -> the correctly rounded double (round half to even),
// exactly like V8's Number(text), for the wasm build of the catalog. Plain
// AssemblyScript.
//
// Three tiers, fastest first:
// 1. Clinger's fast path: at most 2^53 and |q| <= 22, so w and 10^q are exact
//    doubles and one IEEE multiply or divide rounds correctly.
// 2. Eisel-Lemire (as in Go's strconv and Wuffs): a 64 x 128-bit product with
//    the table of 10^q; it gives up when the product cannot decide the
//    rounding, and for subnormal or overflowing results.
// 3. An exact big-decimal conversion (big_decimal.ts) for what is left.

import { NT_POW10_128, NT_U64_POW10 } from "./tables.ts";
import { ntMul128, ntMulHigh } from "./mul128.ts";
import { ntBigDecimalToBits } from "./big_decimal.ts";

const NT_POW10_MIN_Q: i32 = -342;
const NT_POW10_MAX_PARSE_Q: i32 = 308;
// A NaN bit pattern: never a parse result, so it can mean "undecided".
const NT_UNDECIDED: u64 = 0xFFFFFFFFFFFFFFFF;
const NT_TWO_53: u64 = 9007199254740992;

// 10^0..10^22: exact doubles.
const NT_F64_POW10: usize = memory.data<f64>([
  1e0,
  1e1,
  1e2,
  1e3,
  1e4,
  1e5,
  1e6,
  1e7,
  1e8,
  1e9,
  1e10,
  1e11,
  1e12,
  1e13,
  1e14,
  1e15,
  1e16,
  1e17,
  1e18,
  1e19,
  1e20,
  1e21,
  1e22,
]);

/**
 * Parses the JSON number grammar `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
 * into the nearest double (ties to even; overflow gives ±Infinity, underflow
 * ±0); NaN for any other text. Allocates nothing.
 */
export function ntParseF64(text: string): f64 {
  let s = changetype<usize>(text);
  const end = s + (<usize>text.length << 1);
  if (s == end) return NaN;
  let c = <u32>load<u16>(s);
  const negative = c == 45; // -
  if (negative) {
    s += 2;
    if (s == end) return NaN;
    c = <u32>load<u16>(s);
  }

  // Up to 19 significant digits go into w; later ones are only counted.
  let w: u64 = 0;
  let taken = 0;
  let dropped = 0;
  let droppedNonzero = false;

  const intStart = s;
  if (c == 48) {
    s += 2; // a lone leading zero
  } else if (c - 49 < 9) {
    for (;;) {
      const d = c - 48;
      if (taken < 19) {
        w = w * 10 + d;
        taken++;
      } else {
        dropped++;
        if (d != 0) droppedNonzero = true;
      }
      s += 2;
      if (s == end) break;
      c = <u32>load<u16>(s);
      if (c - 48 >= 10) break;
    }
  } else {
    return NaN;
  }
  const intEnd = s;

  let fracStart = s;
  let fracLength = 0;
  if (s < end && load<u16>(s) == 46) {
    s += 2;
    fracStart = s;
    while (s < end) {
      const d = <u32>load<u16>(s) - 48;
      if (d >= 10) break;
      if (taken < 19) {
        if (taken != 0 || d != 0) {
          w = w * 10 + d;
          taken++;
        }
      } else {
        dropped++;
        if (d != 0) droppedNonzero = true;
      }
      s += 2;
    }
    fracLength = <i32>((s - fracStart) >> 1);
    if (fracLength == 0) return NaN;
  }
  const fracEnd = s;

  let exp = 0;
  if (s < end && (load<u16>(s) | 0x20) == 101) {
    // e or E
    s += 2;
    if (s == end) return NaN;
    c = <u32>load<u16>(s);
    const expNegative = c == 45;
    if (expNegative || c == 43) {
      s += 2;
    }
    const expStart = s;
    while (s < end) {
      const d = <u32>load<u16>(s) - 48;
      if (d >= 10) break;
      // Saturate: no string is long enough for digits to offset 10^9.
      if (exp < 100000000) exp = exp * 10 + <i32>d;
      s += 2;
    }
    if (s == expStart) return NaN;
    if (expNegative) exp = -exp;
  }
  if (s != end) return NaN;

  if (w == 0) return negative ? -0.0 : 0.0;
  // value = (w + fraction < 1) * 10^q
  const q = exp - fracLength + dropped;

  let bits: u64;
  if (!droppedNonzero) {
    if (w <= NT_TWO_53) {
      if (q >= -22 && q <= 22) {
        const x = <f64>w;
        const result = q < 0
          ? x / load<f64>(NT_F64_POW10 + (<usize>-q << 3))
          : x * load<f64>(NT_F64_POW10 + (<usize>q << 3));
        return negative ? -result : result;
      }
      if (q > 22 && q <= 37) {
        // w * 10^(q - 22) may still be an exact integer below 2^53.
        const scale = load<u64>(NT_U64_POW10 + (<usize>(q - 22) << 3));
        if (w <= NT_TWO_53 / scale) {
          const result = <f64>(w * scale) * 1e22;
          return negative ? -result : result;
        }
      }
    }
    if (q < NT_POW10_MIN_Q) return negative ? -0.0 : 0.0;
    if (q > NT_POW10_MAX_PARSE_Q) return negative ? -Infinity : Infinity;
    bits = ntEiselLemire(w, q);
  } else {
    // The value lies strictly between w * 10^q and (w + 1) * 10^q.
    if (q < NT_POW10_MIN_Q) return negative ? -0.0 : 0.0;
    if (q > NT_POW10_MAX_PARSE_Q) return negative ? -Infinity : Infinity;
    bits = ntEiselLemire(w, q);
    if (bits != NT_UNDECIDED && ntEiselLemire(w + 1, q) != bits) bits = NT_UNDECIDED;
  }
  if (bits == NT_UNDECIDED) bits = ntBigDecimalToBits(intStart, intEnd, fracStart, fracEnd, exp);
  return reinterpret<f64>(negative ? bits | 0x8000000000000000 : bits);
}

// Eisel-Lemire for w * 10^q (w > 0, -342 <= q <= 308): the bits of the
// correctly rounded double, or NT_UNDECIDED when the truncated product cannot
// decide or the result is subnormal or infinite.
function ntEiselLemire(w: u64, q: i32): u64 {
  const zeros = <i32>clz<u64>(w);
  const man = w << <u64>zeros;
  // floor(q * log2(10)) + 64 + bias - leading zeros
  let retExp2 = ((217706 * q) >> 16) + 64 + 1023 - zeros;

  const entry = NT_POW10_128 + (<usize>(q - NT_POW10_MIN_Q) << 4);
  let xLo = ntMul128(man, load<u64>(entry));
  let xHi = ntMulHigh;
  if ((xHi & 0x1FF) == 0x1FF && xLo + man < man) {
    // The low 64 bits of 10^q may carry into the bits that decide rounding.
    const yLo = ntMul128(man, load<u64>(entry, 8));
    const yHi = ntMulHigh;
    let mergedHi = xHi;
    const mergedLo = xLo + yHi;
    if (mergedLo < xLo) mergedHi++;
    if ((mergedHi & 0x1FF) == 0x1FF && mergedLo + 1 == 0 && yLo + man < man) {
      return NT_UNDECIDED;
    }
    xHi = mergedHi;
    xLo = mergedLo;
  }

  const msb = <i32>(xHi >> 63);
  const shift = <u64>(msb + 9);
  let mantissa = xHi >> shift; // 54 bits: the last one is the half bit
  retExp2 -= 1 ^ msb;
  if (xLo == 0 && (xHi & 0x1FF) == 0 && (mantissa & 3) == 1) {
    // Halfway as far as the product shows. For 0 <= q <= 23 the table holds
    // 10^q exactly, so the product is exact: when every bit below the half
    // bit is zero it is a tie, rounded half to even (here down). Shortest
    // output of large doubles often lands on such ties. Other q cannot be
    // told apart from a near tie.
    if (q < 0 || q > 23) return NT_UNDECIDED;
    if ((mantissa << shift) == xHi) mantissa &= ~(<u64>1);
  }
  mantissa += mantissa & 1;
  mantissa >>= 1;
  if ((mantissa >> 53) != 0) {
    mantissa >>= 1;
    retExp2++;
  }
  if (retExp2 <= 0 || retExp2 >= 0x7FF) return NT_UNDECIDED;
  return (<u64>retExp2 << 52) | (mantissa & 0xFFFFFFFFFFFFF);
}
