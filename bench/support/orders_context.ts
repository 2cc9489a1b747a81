/**
 * The benches' ~10 KB task context: orders as a task might carry them,
 * generated deterministically (a fixed linear congruential sequence), so
 * every run and every bench sees the same bytes.
 *
 * @example
 * ```ts
 * import { ordersContext } from "./orders_context.ts";
 * const context = ordersContext(10_000);
 * console.assert(JSON.stringify(context).length >= 10_000);
 * ```
 *
 * @module
 */

/** Orders as a task might carry them, until the context's JSON reaches `bytes`. */
export function ordersContext(bytes: number): { orders: unknown[] } {
  let s = 1;
  const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const orders: unknown[] = [];
  let size = 12;
  for (let i = 0; size < bytes; i++) {
    const order = {
      id: `ord-${i}`,
      total: Math.round(rnd() * 20000) / 100,
      currency: i % 3 ? "EUR" : "USD",
      customer: { name: `customer ${i % 97}`, tier: ["gold", "silver", "bronze"][i % 3] },
      lines: [{ sku: `sku-${i % 13}`, qty: 1 + (i % 4) }],
    };
    orders.push(order);
    size += JSON.stringify(order).length + 1;
  }
  return { orders };
}
