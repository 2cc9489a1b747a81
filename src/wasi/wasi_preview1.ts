/**
 * WASI preview1 for one step (placeholder signature; implementation pending).
 *
 * @module
 */
import type { GuestMemory } from "../capability/guest_memory.ts";
import type { StepClock } from "../capability/step_clock.ts";
import type { StepIo } from "../capability/step_io.ts";
import type { StepLog } from "../capability/step_log.ts";

/** Thrown by `proc_exit` to unwind the guest; carries the exit status. */
export class WasiExit extends Error {
  constructor(readonly status: number) {
    super(`guest exited with status ${status}`);
    this.name = "WasiExit";
  }
}

/** What WASI functions reach for one step. */
export interface WasiContext {
  memory: GuestMemory;
  io: StepIo;
  /** Null when the manifest grants no `log`: stderr is then discarded and counted. */
  log: StepLog | null;
  clock: StepClock;
  /** argv; argv[0] is the handler name. */
  args: readonly string[];
}

/** Builds the WASI functions named in `names`. */
export function createWasiImports(
  _ctx: WasiContext,
  _names: readonly string[],
): Record<string, (...args: never[]) => unknown> {
  throw new Error("WASI preview1 is not implemented yet");
}
