/**
 * Typed access to JSPI (WebAssembly JavaScript Promise Integration), which
 * V8 15 ships but TypeScript's lib does not declare yet.
 *
 * @module
 */

interface JspiApi {
  Suspending: new (fn: (...args: never[]) => Promise<unknown>) => object;
  promising: (fn: (...args: never[]) => unknown) => (...args: unknown[]) => Promise<unknown>;
}

const api = WebAssembly as unknown as Partial<JspiApi>;

/** Wraps an async host function so a guest suspends on it. */
export function suspending(fn: (...args: never[]) => Promise<unknown>): object {
  if (!api.Suspending) throw new Error("Cannot link an async host function as JSPI is unavailable");
  return new api.Suspending(fn);
}

/** Wraps a guest export so it may call suspending imports; it then returns a Promise. */
export function promising(
  fn: (...args: never[]) => unknown,
): (...args: unknown[]) => Promise<unknown> {
  if (!api.promising) throw new Error("Cannot call an async guest as JSPI is unavailable");
  return api.promising(fn);
}
