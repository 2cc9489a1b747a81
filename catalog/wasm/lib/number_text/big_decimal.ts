// Exact decimal -> double conversion for the inputs the fast paths of
// parse_f64.ts cannot decide (halfway cases, subnormals, results next to
// overflow, more than 19 digits). Plain AssemblyScript.
//
// The "simple decimal conversion" of Go's strconv and Wuffs: keep up to 800
// significant decimal digits (a double's halfway points need at most 767,
// and a sticky flag records dropped nonzero digits), scale by powers of two
// with exact digit-by-digit shifts until the value is in [0.5, 1), then
// extract 53 bits with round-half-even. Slow (it walks every digit once per
// shift) but only runs for rare inputs; it uses a static buffer, never the
// heap.

const NT_MAX_DIGITS: i32 = 800;
// Room for the digits a left shift adds before they are cut back to 800.
const NT_DIGITS: usize = memory.data(NT_MAX_DIGITS + 32);
// 60 bits per pass keeps n * 10 + 9 within a u64.
const NT_MAX_SHIFT: i32 = 60;
// Bits to shift by to move the decimal point by 1..8 digits.
const NT_POWTAB: usize = memory.data<u8>([1, 3, 6, 9, 13, 16, 19, 23, 26]);

let ntCount = 0; // digits in use, each 0..9, most significant first
let ntPoint = 0; // decimal point position: value = 0.d1d2... * 10^ntPoint
let ntTruncated = false; // nonzero digits were dropped past NT_MAX_DIGITS

/**
 * Returns the bits of the correctly rounded double (sign not included) for
 * the digits in the UTF-16 ranges [intStart, intEnd) and [fracStart, fracEnd)
 * times 10^exp. The digits are not all zeros.
 */
export function ntBigDecimalToBits(
  intStart: usize,
  intEnd: usize,
  fracStart: usize,
  fracEnd: usize,
  exp: i32,
): u64 {
  ntCount = 0;
  ntPoint = 0;
  ntTruncated = false;
  for (let s = intStart; s < intEnd; s += 2) {
    const d = <u8>(load<u16>(s) - 48);
    if (ntCount == 0 && d == 0) continue;
    ntPoint++;
    ntPush(d);
  }
  for (let s = fracStart; s < fracEnd; s += 2) {
    const d = <u8>(load<u16>(s) - 48);
    if (ntCount == 0 && d == 0) {
      ntPoint--;
      continue;
    }
    ntPush(d);
  }
  ntPoint += exp;
  ntTrim();
  if (ntCount == 0) return 0;

  // Obvious overflow and underflow.
  if (ntPoint > 310) return 0x7FF0000000000000;
  if (ntPoint < -330) return 0;

  // Scale by powers of two into [0.5, 1), counting the binary exponent.
  let exp2 = 0;
  while (ntPoint > 0) {
    const n = ntPoint >= 9 ? 27 : <i32>load<u8>(NT_POWTAB + <usize>ntPoint);
    ntShift(-n);
    exp2 += n;
  }
  while (ntPoint < 0 || (ntPoint == 0 && load<u8>(NT_DIGITS) < 5)) {
    const n = -ntPoint >= 9 ? 27 : <i32>load<u8>(NT_POWTAB + <usize>-ntPoint);
    ntShift(n);
    exp2 -= n;
  }
  // The range is [0.5, 1) but a double's mantissa is in [1, 2).
  exp2--;
  // Below the smallest normal exponent: denormalize.
  if (exp2 < -1022) {
    const n = -1022 - exp2;
    ntShift(-n);
    exp2 += n;
  }
  if (exp2 + 1023 >= 0x7FF) return 0x7FF0000000000000;

  ntShift(53);
  let mantissa = ntRoundedInteger();
  if (mantissa == (<u64>2 << 52)) {
    // Rounding carried into a new bit.
    mantissa >>= 1;
    exp2++;
    if (exp2 + 1023 >= 0x7FF) return 0x7FF0000000000000;
  }
  // Subnormal (or zero): biased exponent 0.
  const biased: u64 = (mantissa & (<u64>1 << 52)) == 0 ? 0 : <u64>(exp2 + 1023);
  return (biased << 52) | (mantissa & 0xFFFFFFFFFFFFF);
}

function ntPush(d: u8): void {
  if (ntCount < NT_MAX_DIGITS) {
    store<u8>(NT_DIGITS + <usize>ntCount, d);
    ntCount++;
  } else if (d != 0) {
    ntTruncated = true;
  }
}

// Drops trailing zeros: the point position is tracked separately.
function ntTrim(): void {
  while (ntCount > 0 && load<u8>(NT_DIGITS + <usize>(ntCount - 1)) == 0) ntCount--;
  if (ntCount == 0) ntPoint = 0;
}

// Multiplies (k > 0) or divides (k < 0) by 2^|k|.
function ntShift(k: i32): void {
  if (ntCount == 0) return;
  if (k > 0) {
    while (k > NT_MAX_SHIFT) {
      ntLeftShift(NT_MAX_SHIFT);
      k -= NT_MAX_SHIFT;
    }
    ntLeftShift(k);
  } else if (k < 0) {
    while (k < -NT_MAX_SHIFT) {
      ntRightShift(NT_MAX_SHIFT);
      k += NT_MAX_SHIFT;
    }
    ntRightShift(-k);
  }
}

// Divides by 2^k, 0 < k <= 60, in place (reads stay ahead of writes).
function ntRightShift(k: i32): void {
  const shift = <u64>k;
  let r = 0;
  let w = 0;
  let n: u64 = 0;
  // Pick up enough leading digits to cover the first output digit.
  for (; (n >> shift) == 0; r++) {
    if (r >= ntCount) {
      if (n == 0) {
        ntCount = 0;
        return;
      }
      while ((n >> shift) == 0) {
        n *= 10;
        r++;
      }
      break;
    }
    n = n * 10 + <u64>load<u8>(NT_DIGITS + <usize>r);
  }
  ntPoint -= r - 1;

  const mask = (<u64>1 << shift) - 1;
  // Pick up a digit, put down a digit.
  for (; r < ntCount; r++) {
    const digit = n >> shift;
    n &= mask;
    store<u8>(NT_DIGITS + <usize>w, <u8>digit);
    w++;
    n = n * 10 + <u64>load<u8>(NT_DIGITS + <usize>r);
  }
  // Put down the digits the division adds at the end.
  while (n > 0) {
    const digit = n >> shift;
    n &= mask;
    if (w < NT_MAX_DIGITS) {
      store<u8>(NT_DIGITS + <usize>w, <u8>digit);
      w++;
    } else if (digit > 0) {
      ntTruncated = true;
    }
    n *= 10;
  }
  ntCount = w;
  ntTrim();
}

// Multiplies by 2^k, 0 < k <= 60. 2^k has delta - 1 or delta more digits
// than 1, so the product is written as if it had delta more and moved down
// one place when its first digit turns out to be zero.
function ntLeftShift(k: i32): void {
  const shift = <u64>k;
  const delta = <i32>((<u32>k * 78913) >> 18) + 1; // floor(k * log10(2)) + 1
  let r = ntCount - 1;
  let w = ntCount + delta;
  let n: u64 = 0;
  for (; r >= 0; r--) {
    n += <u64>load<u8>(NT_DIGITS + <usize>r) << shift;
    const quotient = n / 10;
    w--;
    store<u8>(NT_DIGITS + <usize>w, <u8>(n - quotient * 10));
    n = quotient;
  }
  while (n > 0) {
    const quotient = n / 10;
    w--;
    store<u8>(NT_DIGITS + <usize>w, <u8>(n - quotient * 10));
    n = quotient;
  }
  // w is now the number of unused leading places: 0 or 1.
  let count = ntCount + delta - w;
  if (w != 0) memory.copy(NT_DIGITS, NT_DIGITS + <usize>w, <usize>count);
  ntPoint += delta - w;
  if (count > NT_MAX_DIGITS) {
    for (let i = NT_MAX_DIGITS; i < count; i++) {
      if (load<u8>(NT_DIGITS + <usize>i) != 0) ntTruncated = true;
    }
    count = NT_MAX_DIGITS;
  }
  ntCount = count;
  ntTrim();
}

// Whether cutting at `at` digits must round up: above half, or exactly half
// with an odd last kept digit, or half with dropped nonzero digits.
function ntShouldRoundUp(at: i32): bool {
  if (at < 0 || at >= ntCount) return false;
  const digit = load<u8>(NT_DIGITS + <usize>at);
  if (digit == 5 && at + 1 == ntCount) {
    if (ntTruncated) return true;
    return at > 0 && (load<u8>(NT_DIGITS + <usize>(at - 1)) & 1) != 0;
  }
  return digit >= 5;
}

// The integer part, rounded half to even (the value is below 2^54 here).
function ntRoundedInteger(): u64 {
  let n: u64 = 0;
  let i = 0;
  for (; i < ntPoint && i < ntCount; i++) n = n * 10 + <u64>load<u8>(NT_DIGITS + <usize>i);
  for (; i < ntPoint; i++) n *= 10;
  if (ntShouldRoundUp(ntPoint)) n++;
  return n;
}
