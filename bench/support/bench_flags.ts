/**
 * The `--name value` flags of a bench's `--report` mode.
 *
 * @example
 * ```ts ignore
 * import { countFlag, flag } from "./bench_flags.ts";
 * const steps = countFlag("steps", 3000); // --steps 500 → 500; --steps x → throws
 * const handlers = flag("handlers", "trivial,transform");
 * ```
 *
 * @module
 */

/** The value after `--<name>`, or `fallback`. */
export function flag(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && Deno.args[i + 1] !== undefined ? Deno.args[i + 1] : fallback;
}

/** A whole-number flag of at least `min`; throws naming the flag otherwise. */
export function countFlag(name: string, fallback: number, min = 1): number {
  const text = flag(name, String(fallback));
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new Error(
      `Cannot use --${name} as it is not a whole number ≥ ${min}: current value is ${text}`,
    );
  }
  return value;
}
