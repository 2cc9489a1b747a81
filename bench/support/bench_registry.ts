/**
 * The registry the end-to-end bench serves: a private copy of the catalog
 * registry (so `catalog.transform` is there, published as the broker
 * publishes it) plus `bench.noop@1.0.0`, the smallest guest that completes a
 * step through the broker: it writes `{}` through `io.write_output` and
 * returns 0.
 *
 * @example
 * ```ts ignore
 * const { dir, cleanup } = await prepareBenchRegistry();
 * // serve dir; steps with callable "bench.noop@1.0.0" run the trivial guest
 * await cleanup();
 * ```
 *
 * @module
 */
import { FileRegistry } from "../../src/registry/file_registry.ts";
import { copyRegistry } from "../../tests/support/broker_harness.ts";
import { wat } from "../../tests/support/wat.ts";

/** The trivial guest's callable. */
export const TRIVIAL_CALLABLE = "bench.noop@1.0.0";

/** Writes `{}` and returns 0. */
export const TRIVIAL_GUEST = wat(`(module
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{}")
  (func (export "run") (result i32)
    (drop (call $write (i32.const 0) (i32.const 2)))
    (i32.const 0)))`);

/** A registry directory with the catalog and the trivial guest. */
export async function prepareBenchRegistry(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await copyRegistry();
  await new FileRegistry(dir).publish({
    name: "bench.noop",
    version: "1.0.0",
    module: TRIVIAL_GUEST,
    manifest: { capabilities: { io: {} } },
    description: "Writes {} and returns: the broker end-to-end bench's trivial handler",
  });
  return { dir, cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}) };
}
