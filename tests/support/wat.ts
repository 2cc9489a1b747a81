/**
 * Compiles WebAssembly text to a binary with npm `wabt`, for hand-written
 * test guests.
 *
 * @module
 */
import wabtInit from "wabt";

const wabt = await wabtInit();

/** Compiles WAT source to wasm bytes; throws with wabt's message on a syntax error. */
export function wat(
  source: string,
  features: Record<string, boolean> = {},
): Uint8Array<ArrayBuffer> {
  const module = wabt.parseWat("guest.wat", source, features as never);
  try {
    module.resolveNames();
    module.validate();
    return new Uint8Array(module.toBinary({ write_debug_names: true }).buffer);
  } finally {
    module.destroy();
  }
}
