/**
 * The sandbox process: the child half of the sandbox pool. It runs with no
 * env/read/write/run/ffi/sys permission; the broker starts it with a
 * generated entry module that statically imports this file and every
 * plugin module (see `sandbox_entry.ts`), then talks to it in frames over
 * stdin/stdout:
 *
 * 1. `init` → re-create the plugins from their sources → `ready`;
 * 2. `load` → compile and audit a module once (`prepareGuest`), keyed by digest;
 * 3. `run` → a fresh instance per step (`runStep`) → `done`;
 *    a plugin's `ctx.callBroker` becomes a `call` answered by a `reply`.
 *
 * Nothing but the compiled modules survives between steps. The process
 * exits when its stdin closes (the broker went away).
 *
 * @module
 */
import type { CapabilityPlugin, PluginSource } from "../capability/capability_plugin.ts";
import { CapabilityRegistry } from "../capability/capability_registry.ts";
import { WasmBrokerError } from "../errors.ts";
import { type PreparedGuest, prepareGuest } from "../runtime/prepared_guest.ts";
import { errorFromThrown, runStepWithOutput } from "../runtime/run_step.ts";
import { emptyMetrics, type StepError, type StepOutcome } from "../runtime/step_outcome.ts";
import { encodeFrame, type Frame, FrameDecoder } from "./frame_codec.ts";
import {
  type CallMessage,
  type DoneMessage,
  type FromSandbox,
  jsonPayload,
  type LoadMessage,
  parseJsonPayload,
  type ReplyMessage,
  type RunMessage,
  type ToSandbox,
} from "./sandbox_protocol.ts";

/** Plugin module namespaces by module URL, as the entry module imported them. */
export type PluginModules = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

/** A compiled module, or why it could not be compiled. */
type CachedModule =
  | { guest: PreparedGuest; error?: undefined; reportCompile: boolean }
  | { guest?: undefined; error: StepError };

/** Exit status when the broker broke the protocol or a plugin cannot be re-created. */
const EXIT_PROTOCOL = 70;

/**
 * Serves steps until stdin closes. Called by the generated entry module
 * with the namespaces of the plugin modules it imported.
 *
 * @example
 * ```ts ignore
 * import { runSandbox } from "./sandbox_main.ts";
 * import * as io from "../../plugins/io/io_plugin.ts";
 * await runSandbox({ [new URL("../../plugins/io/io_plugin.ts", import.meta.url).href]: io });
 * ```
 */
export async function runSandbox(modules: PluginModules): Promise<void> {
  // A terminal's Ctrl-C (and a supervisor signalling the process group) reaches
  // sandboxes too. Their end is the broker's call — it closes stdin or kills
  // them, and the kernel kills them with the broker (pdeathsig) — so a step
  // keeps running while the broker stops gracefully.
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, () => {});
  const sandbox = new Sandbox(modules);
  const decoder = new FrameDecoder();
  const buffer = new Uint8Array(256 * 1024);
  for (;;) {
    const n = await Deno.stdin.read(buffer);
    if (n === null) break;
    let frames: Frame[];
    try {
      frames = decoder.push(buffer.slice(0, n));
    } catch (error) {
      console.error(`sandbox: ${(error as Error).message}`);
      Deno.exit(EXIT_PROTOCOL);
    }
    for (const frame of frames) sandbox.handle(frame.header as unknown as ToSandbox, frame.payload);
  }
  // The broker closed our stdin: nobody is left to answer.
  Deno.exit(0);
}

function send(message: FromSandbox, payload?: Uint8Array): void {
  for (const chunk of encodeFrame(message, payload)) {
    // Synchronous: frames never interleave and no write queue builds up.
    let offset = 0;
    while (offset < chunk.length) offset += Deno.stdout.writeSync(chunk.subarray(offset));
  }
}

class Sandbox {
  readonly #modules: PluginModules;
  #registry: CapabilityRegistry | null = null;
  readonly #cache = new Map<string, CachedModule>();
  readonly #calls = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  #callSeq = 0;

  constructor(modules: PluginModules) {
    this.#modules = modules;
  }

  handle(message: ToSandbox, payload: Uint8Array): void {
    switch (message.t) {
      case "init":
        return this.#init(message.plugins);
      case "load":
        return this.#load(message, payload);
      case "unload":
        this.#cache.delete(message.digest);
        return;
      case "run":
        this.#run(message, payload).catch((error) => {
          // runStep turns guest failures into outcomes; reaching here is a host bug.
          console.error("sandbox: step failed outside the runtime", error);
          Deno.exit(EXIT_PROTOCOL);
        });
        return;
      case "reply":
        return this.#reply(message, payload);
      default:
        console.error(`sandbox: unknown message ${JSON.stringify(message).slice(0, 100)}`);
        Deno.exit(EXIT_PROTOCOL);
    }
  }

  #init(sources: readonly PluginSource[]): void {
    const plugins: CapabilityPlugin[] = [];
    try {
      for (const source of sources) plugins.push(this.#createPlugin(source));
      this.#registry = new CapabilityRegistry(plugins);
    } catch (error) {
      send({ t: "fatal", message: (error as Error).message });
      Deno.exit(EXIT_PROTOCOL);
    }
    send({ t: "ready" });
  }

  #createPlugin(source: PluginSource): CapabilityPlugin {
    const namespace = this.#modules[source.module];
    if (!namespace) {
      throw new Error(
        `Cannot re-create plugin as its module is not in the sandbox's entry: current value is ${source.module}`,
      );
    }
    const factory = namespace[source.factory];
    if (typeof factory !== "function") {
      throw new Error(
        `Cannot re-create plugin as "${source.factory}" is not a function exported by ${source.module}`,
      );
    }
    return factory(source.options) as CapabilityPlugin;
  }

  #load(message: LoadMessage, bytes: Uint8Array): void {
    try {
      const guest = prepareGuest(bytes, message.manifest, this.#requireRegistry(), {
        name: message.name,
      });
      this.#cache.set(message.digest, { guest, reportCompile: true });
    } catch (thrown) {
      // Also non-coded errors (they become `internal`): one bad module must not end the process.
      this.#cache.set(message.digest, { error: errorFromThrown(thrown) });
    }
  }

  async #run(message: RunMessage, input: Uint8Array): Promise<void> {
    const cached = this.#cache.get(message.digest);
    let outcome: StepOutcome;
    let output: Uint8Array | null = null;
    if (!cached) {
      outcome = failed({
        code: "internal",
        message: `Cannot run step as module ${message.digest} was never loaded in this sandbox`,
        retryable: true,
      });
    } else if (cached.error) {
      outcome = failed(cached.error);
    } else {
      ({ outcome, output } = await runStepWithOutput(cached.guest, {
        input,
        step: message.step,
        data: message.data,
        clock: message.clock,
        deadline: message.deadline,
        timeHostCalls: message.time_host_calls === true,
        callBroker: (capability, op, payload) =>
          this.#callBroker(message.id, capability, op, payload),
      }, { registry: this.#requireRegistry() }));
      if (cached.reportCompile) {
        outcome.metrics.compile_ms = cached.guest.compileMs;
        cached.reportCompile = false;
      }
    }
    const { result: _parsed, ...rest } = outcome;
    const done: DoneMessage = { t: "done", id: message.id, outcome: rest };
    // A completed step's output as the guest wrote it (checked JSON; null when failed): the
    // broker parses it either way.
    send(done, output ?? undefined);
  }

  #callBroker(run: number, capability: string, op: string, payload: unknown): Promise<unknown> {
    const id = ++this.#callSeq;
    const call: CallMessage = { t: "call", id, run, capability, op };
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      send(call, jsonPayload(payload));
    });
  }

  #reply(message: ReplyMessage, payload: Uint8Array): void {
    const pending = this.#calls.get(message.id);
    if (!pending) return;
    this.#calls.delete(message.id);
    if (message.ok) pending.resolve(parseJsonPayload(payload));
    else {
      pending.reject(
        new WasmBrokerError(
          (message.code ?? "internal") as WasmBrokerError["code"],
          message.message ?? "broker call failed",
        ),
      );
    }
  }

  #requireRegistry(): CapabilityRegistry {
    if (!this.#registry) throw new Error("Cannot serve steps as the sandbox was not initialised");
    return this.#registry;
  }
}

function failed(error: StepError): StepOutcome {
  return { status: "failed", result: null, error, metrics: emptyMetrics(), logs: [] };
}
