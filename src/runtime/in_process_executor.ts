/**
 * Runs guests in the calling process. No hard deadline (a spinning guest
 * blocks the process) and no process boundary: for trusted tests,
 * benchmarks' baselines and tools, never for untrusted guests.
 *
 * @module
 */
import type { CapabilityRegistry } from "../capability/capability_registry.ts";
import { WasmBrokerError } from "../errors.ts";
import type { BrokerCallHandler, ExecuteRequest, StepExecutor } from "./executor.ts";
import { type PreparedGuest, prepareGuest } from "./prepared_guest.ts";
import { errorFromThrown, runStep } from "./run_step.ts";
import { emptyMetrics, type StepOutcome } from "./step_outcome.ts";

/** Options for {@link InProcessExecutor}. */
export interface InProcessExecutorOptions {
  registry: CapabilityRegistry;
}

/** A {@link StepExecutor} that runs guests in this process. */
export class InProcessExecutor implements StepExecutor {
  readonly #registry: CapabilityRegistry;
  readonly #prepared = new Map<string, PreparedGuest>();

  constructor(options: InProcessExecutorOptions) {
    this.#registry = options.registry;
  }

  async execute(request: ExecuteRequest, onBrokerCall: BrokerCallHandler): Promise<StepOutcome> {
    let guest = this.#prepared.get(request.guest.id);
    let compileMs = 0;
    if (!guest) {
      try {
        guest = prepareGuest(request.guest.bytes, request.guest.manifest, this.#registry, {
          name: request.guest.name,
        });
      } catch (thrown) {
        if (!(thrown instanceof WasmBrokerError)) throw thrown;
        return {
          status: "failed",
          result: null,
          error: errorFromThrown(thrown),
          metrics: emptyMetrics(),
          logs: [],
        };
      }
      compileMs = guest.compileMs;
      this.#prepared.set(request.guest.id, guest);
    }
    const outcome = await runStep(guest, {
      input: request.input,
      step: request.step,
      data: request.data,
      clock: request.clock,
      callBroker: onBrokerCall,
      deadline: Date.now() + request.timeoutMs,
      timeHostCalls: request.timeHostCalls,
    }, { registry: this.#registry });
    outcome.metrics.compile_ms = compileMs;
    return outcome;
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#prepared.clear();
    return Promise.resolve();
  }
}
