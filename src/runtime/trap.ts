/**
 * Classifies what a guest threw into a trap kind and, where V8's stack trace
 * names it, the wasm function that trapped.
 *
 * @module
 */

/** Kinds of trap the runtime reports. */
export type TrapKind =
  | "unreachable"
  | "out_of_bounds"
  | "stack_overflow"
  | "divide_by_zero"
  | "integer_overflow"
  | "invalid_conversion"
  | "indirect_call"
  | "null_reference"
  | "misaligned_atomic"
  | "suspend_error"
  | "other";

/** A classified trap. */
export interface TrapInfo {
  kind: TrapKind;
  /** The wasm function at the top of the stack: its name, or `wasm-function[N]`. */
  function?: string;
  /** V8's message. */
  message: string;
}

const PATTERNS: [RegExp, TrapKind][] = [
  [/unreachable/i, "unreachable"],
  [/out of bounds|offset is out of bounds/i, "out_of_bounds"],
  [/call stack size exceeded|stack overflow/i, "stack_overflow"],
  [/divide by zero|remainder by zero/i, "divide_by_zero"],
  [/integer overflow/i, "integer_overflow"],
  [/float unrepresentable|invalid conversion/i, "invalid_conversion"],
  [/null function|signature mismatch|indirect call|function signature/i, "indirect_call"],
  [/dereferencing a null|null pointer|null reference/i, "null_reference"],
  [/unaligned|misaligned/i, "misaligned_atomic"],
  [/suspend|JSPI|promising/i, "suspend_error"],
];

/** True when `error` is something wasm execution throws (a trap or stack overflow). */
export function isTrap(error: unknown): boolean {
  return error instanceof WebAssembly.RuntimeError ||
    (error instanceof RangeError && /call stack size/i.test(error.message)) ||
    // JSPI's SuspendError (a suspending import called outside a promising export).
    (error instanceof Error && error.constructor.name === "SuspendError");
}

/** Classifies a trap; unknown messages become kind `other`. */
export function classifyTrap(error: Error): TrapInfo {
  const kind = PATTERNS.find(([re]) => re.test(error.message))?.[1] ?? "other";
  const info: TrapInfo = { kind, message: error.message };
  const fn = topWasmFunction(error.stack ?? "");
  if (fn) info.function = fn;
  return info;
}

// Frames look like "at name (wasm://wasm/8c5b1f2e:wasm-function[3]:0x5a)" or
// "at wasm://wasm/8c5b1f2e:wasm-function[3]:0x5a" when the module has no names.
const FRAME = /at (?:(\S+) \()?wasm:\/\/wasm\/[^:]+:(wasm-function\[\d+\])/;

function topWasmFunction(stack: string): string | undefined {
  const match = FRAME.exec(stack);
  if (!match) return undefined;
  return match[1] && match[1] !== "Object" ? match[1].replace(/^\$/, "") : match[2];
}
