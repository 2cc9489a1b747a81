// Double -> text exactly like ECMAScript Number::toString(x) (radix 10), for
// the wasm build of the catalog. Plain AssemblyScript.
//
// Digits: Ryu (Ulf Adams, PLDI 2018) computes the shortest decimal that
// rounds back to x and, among the shortest, the one closest to x (ties to an
// even digit), which is what ECMAScript requires and what V8 prints. Its
// 125-bit multipliers come from the 128-bit table of powers of ten shared
// with the parser (see tables.ts). Layout: ECMAScript's rules (plain
// decimal for 1e-7 <= |x| < 1e21, otherwise d.ddde+n).

import { NT_DIGIT_PAIRS, NT_POW10_128, NT_U64_POW10 } from "./tables.ts";
import { ntMul128, ntMulHigh } from "./mul128.ts";

const NT_POW10_MIN_Q: i32 = -342;

// Second and third results of ntMulShiftAll (AssemblyScript has no tuples).
let ntVp: u64 = 0;
let ntVm: u64 = 0;
// Decimal exponent of the last ntShortest result.
let ntExp10: i32 = 0;
// Digits removed by the last ntRemoveDigits call.
let ntRemoved: i32 = 0;

/** Formats `value` like ECMAScript `String(value)`; allocates only the result. */
export function ntFormatF64(value: f64): string {
  const bits = reinterpret<u64>(value);
  const negative = (bits >> 63) != 0;
  const ieeeMantissa = bits & 0xFFFFFFFFFFFFF;
  const ieeeExponent = <i32>((bits >> 52) & 0x7FF);
  if (ieeeExponent == 0x7FF) {
    if (ieeeMantissa != 0) return "NaN";
    return negative ? "-Infinity" : "Infinity";
  }
  if (ieeeExponent == 0 && ieeeMantissa == 0) return "0"; // and -0
  const e2 = ieeeExponent - 1075;
  if (ieeeExponent != 0 && e2 <= 0 && e2 >= -52) {
    // An integer below 2^53 prints as its own digits.
    const m2 = ieeeMantissa | (<u64>1 << 52);
    const shift = <u64>-e2;
    if ((m2 & ((<u64>1 << shift) - 1)) == 0) return ntLayout(negative, m2 >> shift, 0);
  }
  const output = ntShortest(ieeeMantissa, ieeeExponent);
  return ntLayout(negative, output, ntExp10);
}

// Returns e == 0 ? 1 : ceil(log2(5^e)) for 0 <= e <= 1500.
function ntPow5Bits(e: i32): i32 {
  return <i32>((<u32>e * 1217359) >> 19) + 1;
}

// floor(log10(2^e)) for 0 <= e <= 1650.
function ntLog10Pow2(e: i32): i32 {
  return <i32>((<u32>e * 78913) >> 18);
}

// floor(log10(5^e)) for 0 <= e <= 2620.
function ntLog10Pow5(e: i32): i32 {
  return <i32>((<u32>e * 732923) >> 20);
}

function ntPow5Factor(value: u64): i32 {
  let count = 0;
  while (value - (value / 5) * 5 == 0) {
    value /= 5;
    count++;
  }
  return count;
}

function ntMultipleOfPowerOf5(value: u64, p: i32): bool {
  return ntPow5Factor(value) >= p;
}

// (hi:lo) >> dist for 0 < dist < 64.
function ntShiftRight128(lo: u64, hi: u64, dist: i32): u64 {
  return (hi << <u64>(64 - dist)) | (lo >> <u64>dist);
}

// Ryu's three products from one 64 x 128-bit multiplication: returns
// (4 m2 * mul) >> j and leaves ((4 m2 + 2) * mul) >> j in ntVp and
// ((4 m2 - 1 - mmShift) * mul) >> j in ntVm.
function ntMulShiftAll(m2: u64, mulHi: u64, mulLo: u64, j: i32, mmShift: u32): u64 {
  const m = m2 << 1; // at most 54 bits; P = m * mul needs 192 bits: hi:mid:lo
  const lo = ntMul128(m, mulLo);
  const carry = ntMulHigh;
  const mid = carry + ntMul128(m, mulHi);
  const hi = ntMulHigh + (mid < carry ? 1 : 0);

  // (P + mul) >> (j - 1)
  const lo2 = lo + mulLo;
  const mid2 = mid + mulHi + (lo2 < lo ? 1 : 0);
  const hi2 = hi + (mid2 < mid ? 1 : 0);
  ntVp = ntShiftRight128(mid2, hi2, j - 65);

  if (mmShift == 1) {
    // (P - mul) >> (j - 1)
    const lo3 = lo - mulLo;
    const mid3 = mid - mulHi - (lo3 > lo ? 1 : 0);
    const hi3 = hi - (mid3 > mid ? 1 : 0);
    ntVm = ntShiftRight128(mid3, hi3, j - 65);
  } else {
    // (2P - mul) >> j
    const lo3 = lo + lo;
    const mid3 = mid + mid + (lo3 < lo ? 1 : 0);
    const hi3 = hi + hi + (mid3 < mid ? 1 : 0);
    const lo4 = lo3 - mulLo;
    const mid4 = mid3 - mulHi - (lo4 > lo3 ? 1 : 0);
    const hi4 = hi3 - (mid4 > mid3 ? 1 : 0);
    ntVm = ntShiftRight128(mid4, hi4, j - 64);
  }
  return ntShiftRight128(mid, hi, j - 65);
}

// Ryu's d2d: the shortest, closest decimal digits of a finite nonzero
// double; returns the digits and leaves the decimal exponent in ntExp10.
function ntShortest(ieeeMantissa: u64, ieeeExponent: i32): u64 {
  let e2: i32;
  let m2: u64;
  if (ieeeExponent == 0) {
    // Two more bits so the bounds computation stays in integers.
    e2 = 1 - 1023 - 52 - 2;
    m2 = ieeeMantissa;
  } else {
    e2 = ieeeExponent - 1023 - 52 - 2;
    m2 = (<u64>1 << 52) | ieeeMantissa;
  }
  const acceptBounds = (m2 & 1) == 0;
  const mv = m2 << 2;
  // The lower neighbour is closer when the mantissa is a power of two.
  const mmShift: u32 = ieeeMantissa != 0 || ieeeExponent <= 1 ? 1 : 0;

  let vr: u64;
  let vp: u64;
  let vm: u64;
  let e10: i32;
  let vmIsTrailingZeros = false;
  let vrIsTrailingZeros = false;
  if (e2 >= 0) {
    const q = ntLog10Pow2(e2) - (e2 > 3 ? 1 : 0);
    e10 = q;
    const k = 125 + ntPow5Bits(q) - 1;
    const i = -e2 + q + k;
    // floor(2^(bits(5^q) - 1 + 125) / 5^q) + 1 from the table entry of 10^-q.
    let mulHi: u64;
    let mulLo: u64;
    if (q == 0) {
      mulHi = <u64>1 << 61;
      mulLo = 1;
    } else {
      const entry = NT_POW10_128 + (<usize>(-q - NT_POW10_MIN_Q) << 4);
      const hi = load<u64>(entry);
      const lo = load<u64>(entry, 8);
      mulHi = hi >> 3;
      mulLo = ((hi << 61) | (lo >> 3)) + 1;
      if (mulLo == 0) mulHi++;
    }
    vr = ntMulShiftAll(m2, mulHi, mulLo, i, mmShift);
    vp = ntVp;
    vm = ntVm;
    if (q <= 21) {
      // Only one of mp, mv and mm can be a multiple of 5, if any.
      if (mv % 5 == 0) {
        vrIsTrailingZeros = ntMultipleOfPowerOf5(mv, q);
      } else if (acceptBounds) {
        vmIsTrailingZeros = ntMultipleOfPowerOf5(mv - 1 - mmShift, q);
      } else if (ntMultipleOfPowerOf5(mv + 2, q)) {
        vp--;
      }
    }
  } else {
    const q = ntLog10Pow5(-e2) - (-e2 > 1 ? 1 : 0);
    e10 = q + e2;
    const i = -e2 - q;
    const k = ntPow5Bits(i) - 125;
    const j = q - k;
    // 5^i truncated to 125 bits: the table entry of 10^i shifted right by 3.
    const entry = NT_POW10_128 + (<usize>(i - NT_POW10_MIN_Q) << 4);
    const hi = load<u64>(entry);
    const lo = load<u64>(entry, 8);
    vr = ntMulShiftAll(m2, hi >> 3, (hi << 61) | (lo >> 3), j, mmShift);
    vp = ntVp;
    vm = ntVm;
    if (q <= 1) {
      // mv = 4 m2 has at least two trailing zero bits.
      vrIsTrailingZeros = true;
      if (acceptBounds) {
        vmIsTrailingZeros = mmShift == 1;
      } else {
        vp--;
      }
    } else if (q < 63) {
      vrIsTrailingZeros = (mv & ((<u64>1 << <u64>q) - 1)) == 0;
    }
  }

  // Remove digits while the interval still holds a shorter number.
  let removed = 0;
  let lastRemovedDigit: u32 = 0;
  let output: u64;
  if (vmIsTrailingZeros || vrIsTrailingZeros) {
    // Rare general case: track whether the removed digits were all zeros.
    for (;;) {
      const vpDiv10 = vp / 10;
      const vmDiv10 = vm / 10;
      if (vpDiv10 <= vmDiv10) break;
      const vmMod10 = <u32>(vm - vmDiv10 * 10);
      const vrDiv10 = vr / 10;
      const vrMod10 = <u32>(vr - vrDiv10 * 10);
      vmIsTrailingZeros = vmIsTrailingZeros && vmMod10 == 0;
      vrIsTrailingZeros = vrIsTrailingZeros && lastRemovedDigit == 0;
      lastRemovedDigit = vrMod10;
      vr = vrDiv10;
      vp = vpDiv10;
      vm = vmDiv10;
      removed++;
    }
    if (vmIsTrailingZeros) {
      for (;;) {
        const vmDiv10 = vm / 10;
        const vmMod10 = <u32>(vm - vmDiv10 * 10);
        if (vmMod10 != 0) break;
        const vrDiv10 = vr / 10;
        const vrMod10 = <u32>(vr - vrDiv10 * 10);
        vrIsTrailingZeros = vrIsTrailingZeros && lastRemovedDigit == 0;
        lastRemovedDigit = vrMod10;
        vr = vrDiv10;
        vp = vp / 10;
        vm = vmDiv10;
        removed++;
      }
    }
    if (vrIsTrailingZeros && lastRemovedDigit == 5 && (vr & 1) == 0) {
      // Exactly halfway: round to even.
      lastRemovedDigit = 4;
    }
    const roundUp = (vr == vm && (!acceptBounds || !vmIsTrailingZeros)) || lastRemovedDigit >= 5;
    output = vr + (roundUp ? 1 : 0);
  } else {
    output = ntRemoveDigits(vr, vp, vm);
    removed += ntRemoved;
  }
  ntExp10 = e10 + removed;
  return output;
}

// floor(x / 10^8) by multiplying with a reciprocal: V8 compiles wasm's
// 64-bit division by a constant to a real (slow) division.
function ntDiv1e8(x: u64): u64 {
  ntMul128(x, 0xABCC77118461CEFD);
  return ntMulHigh >> 26;
}

// Ryu's common case (~99%): the exact value is no tie, so the first removed
// digit alone decides the rounding. Removes digits from vr while (vm, vp]
// still holds a shorter number and returns the rounded result, leaving the
// count in ntRemoved. wasm has no fast 64-bit division by a constant, so the
// 64-bit part works in groups of 8 digits and the rest in 32 bits.
function ntRemoveDigits(vr: u64, vp: u64, vm: u64): u64 {
  let removed = 0;
  let roundUp = false;
  while (vp > 0xFFFFFFFF) {
    const vpHigh = ntDiv1e8(vp);
    const vmHigh = ntDiv1e8(vm);
    const vrHigh = ntDiv1e8(vr);
    if (vpHigh == vmHigh) {
      // Fewer than 8 digits go and they all lie in the low 8 (vr shares the
      // high part): finish on the low parts.
      let vr32 = <u32>(vr - vrHigh * 100000000);
      let vp32 = <u32>(vp - vpHigh * 100000000);
      let vm32 = <u32>(vm - vmHigh * 100000000);
      let count = 0;
      for (;;) {
        const vpDiv10 = vp32 / 10;
        const vmDiv10 = vm32 / 10;
        if (vpDiv10 <= vmDiv10) break;
        const vrDiv10 = vr32 / 10;
        roundUp = vr32 - vrDiv10 * 10 >= 5;
        vr32 = vrDiv10;
        vp32 = vpDiv10;
        vm32 = vmDiv10;
        count++;
      }
      ntRemoved = removed + count;
      const low = <u64>vr32 + (vr32 == vm32 || roundUp ? 1 : 0);
      return vrHigh * load<u64>(NT_U64_POW10 + (<usize>(8 - count) << 3)) + low;
    }
    roundUp = vr - vrHigh * 100000000 >= 50000000;
    vr = vrHigh;
    vp = vpHigh;
    vm = vmHigh;
    removed += 8;
  }
  let vr32 = <u32>vr;
  let vp32 = <u32>vp;
  let vm32 = <u32>vm;
  for (;;) {
    const vpDiv10 = vp32 / 10;
    const vmDiv10 = vm32 / 10;
    if (vpDiv10 <= vmDiv10) break;
    const vrDiv10 = vr32 / 10;
    roundUp = vr32 - vrDiv10 * 10 >= 5;
    vr32 = vrDiv10;
    vp32 = vpDiv10;
    vm32 = vmDiv10;
    removed++;
  }
  ntRemoved = removed;
  return <u64>vr32 + (vr32 == vm32 || roundUp ? 1 : 0);
}

// Number of decimal digits of v < 10^17.
function ntDecimalLength17(v: u64): i32 {
  if (v >= 10000000000000000) return 17;
  if (v >= 1000000000000000) return 16;
  if (v >= 100000000000000) return 15;
  if (v >= 10000000000000) return 14;
  if (v >= 1000000000000) return 13;
  if (v >= 100000000000) return 12;
  if (v >= 10000000000) return 11;
  if (v >= 1000000000) return 10;
  if (v >= 100000000) return 9;
  if (v >= 10000000) return 8;
  if (v >= 1000000) return 7;
  if (v >= 100000) return 6;
  if (v >= 10000) return 5;
  if (v >= 1000) return 4;
  if (v >= 100) return 3;
  if (v >= 10) return 2;
  return 1;
}

// Writes the decimal digits of v as UTF-16 so that the last one ends just
// before `end` (two digits per store).
function ntWriteDigits(end: usize, v: u64): void {
  while (v >= 100000000) {
    const q = ntDiv1e8(v);
    let low = <u32>(v - q * 100000000);
    v = q;
    const c = low % 10000;
    low /= 10000;
    store<u32>(end - 4, load<u32>(NT_DIGIT_PAIRS + ((c % 100) << 2)));
    store<u32>(end - 8, load<u32>(NT_DIGIT_PAIRS + ((c / 100) << 2)));
    store<u32>(end - 12, load<u32>(NT_DIGIT_PAIRS + ((low % 100) << 2)));
    store<u32>(end - 16, load<u32>(NT_DIGIT_PAIRS + ((low / 100) << 2)));
    end -= 16;
  }
  let rest = <u32>v;
  while (rest >= 100) {
    const c = rest % 100;
    rest /= 100;
    store<u32>(end - 4, load<u32>(NT_DIGIT_PAIRS + (c << 2)));
    end -= 4;
  }
  if (rest >= 10) {
    store<u32>(end - 4, load<u32>(NT_DIGIT_PAIRS + (rest << 2)));
  } else {
    store<u16>(end - 2, <u16>(48 + rest));
  }
}

// Lays out digits * 10^exp10 by ECMAScript Number::toString's rules into a
// new string of exactly the right length.
function ntLayout(negative: bool, digits: u64, exp10: i32): string {
  const k = ntDecimalLength17(digits);
  const n = exp10 + k; // the decimal point sits after n digits
  let length: i32;
  let exponent = 0;
  if (k <= n && n <= 21) {
    length = n; // digits, then n - k zeros
  } else if (0 < n && n <= 21) {
    length = k + 1; // ddd.ddd
  } else if (-6 < n && n <= 0) {
    length = 2 - n + k; // 0.000ddd
  } else {
    exponent = n - 1;
    const magnitude = exponent < 0 ? -exponent : exponent;
    length = k + (k > 1 ? 1 : 0) + 2 + (magnitude >= 100 ? 3 : magnitude >= 10 ? 2 : 1);
  }
  const signLength = negative ? 1 : 0;
  const result = __new(<usize>(length + signLength) << 1, idof<String>());
  let p = result;
  if (negative) {
    store<u16>(p, 45); // -
    p += 2;
  }
  if (k <= n && n <= 21) {
    ntWriteDigits(p + (<usize>k << 1), digits);
    for (let z = k; z < n; z++) store<u16>(p + (<usize>z << 1), 48);
  } else if (0 < n && n <= 21) {
    // Write the digits one place right, then move the integer part left
    // (a loop: V8 runs memory.copy as a call, slow for a few bytes).
    ntWriteDigits(p + (<usize>(k + 1) << 1), digits);
    const point = p + (<usize>n << 1);
    for (let q = p; q < point; q += 2) store<u16>(q, load<u16>(q, 2));
    store<u16>(point, 46); // .
  } else if (-6 < n && n <= 0) {
    store<u32>(p, 0x002E0030); // "0."
    for (let z = 0; z < -n; z++) store<u16>(p + 4 + (<usize>z << 1), 48);
    ntWriteDigits(p + (<usize>length << 1), digits);
  } else {
    let q = p;
    if (k == 1) {
      store<u16>(q, <u16>(48 + <u32>digits));
      q += 2;
    } else {
      ntWriteDigits(q + (<usize>(k + 1) << 1), digits);
      store<u16>(q, load<u16>(q, 2));
      store<u16>(q, 46, 2); // .
      q += <usize>(k + 1) << 1;
    }
    store<u16>(q, 101); // e
    store<u16>(q, exponent < 0 ? 45 : 43, 2); // - or +
    q += 4;
    const magnitude = <u32>(exponent < 0 ? -exponent : exponent);
    if (magnitude >= 100) {
      store<u16>(q, <u16>(48 + magnitude / 100));
      store<u32>(q, load<u32>(NT_DIGIT_PAIRS + ((magnitude % 100) << 2)), 2);
    } else if (magnitude >= 10) {
      store<u32>(q, load<u32>(NT_DIGIT_PAIRS + (magnitude << 2)));
    } else {
      store<u16>(q, <u16>(48 + magnitude));
    }
  }
  return changetype<string>(result);
}
