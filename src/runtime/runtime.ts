/**
 * The runtime: load a guest (manifest parsed, imports audited), then execute
 * steps. For each step it runs the granted plugins' broker halves, hands the
 * step to the executor (sandbox processes by default), answers the plugins'
 * broker calls, and finally scans the outcome for secret values: logs are
 * redacted, and a result or error carrying a secret fails with `secret_leak`.
 *
 * @module
 */
import type { CapabilityPlugin, StepInfo } from "../capability/capability_plugin.ts";
import { CapabilityRegistry } from "../capability/capability_registry.ts";
import type { VirtualClockOptions } from "../capability/step_clock.ts";
import { WasmBrokerError } from "../errors.ts";
import {
  isParsedManifest,
  type Manifest,
  manifestToJson,
  parseManifest,
} from "../manifest/manifest.ts";
import type { GuestHandle, StepExecutor } from "./executor.ts";
import { InProcessExecutor } from "./in_process_executor.ts";
import { inspectGuest } from "./inspect_guest.ts";
import { createSecretScanner, REDACTED } from "./secret_scan.ts";
import { errorFromThrown } from "./run_step.ts";
import { emptyMetrics, type StepOutcome } from "./step_outcome.ts";

/** Options for {@link Runtime}. */
export interface RuntimeOptions {
  /** Capability plugins (the broker halves run in this process). */
  plugins: Iterable<CapabilityPlugin>;
  /**
   * Where guests run. Defaults to an {@link InProcessExecutor}; production
   * code passes a sandbox pool (see `createRuntime` in `mod.ts`).
   */
  executor?: (registry: CapabilityRegistry) => StepExecutor;
}

/** Options for {@link Runtime.load}. */
export interface LoadOptions {
  name?: string;
  /** Where the manifest came from, for error messages. */
  source?: string;
}

/** Options for {@link Runtime.execute}. */
export interface ExecuteOptions {
  step?: Partial<StepInfo>;
  /** Replay with virtual time. */
  clock?: VirtualClockOptions;
  /** Overrides the manifest's `limits.timeout_ms`. */
  timeoutMs?: number;
  /** Time the first host calls into `outcome.host_call_log` (for spans; off by default). */
  timeHostCalls?: boolean;
}

/** A loaded guest: bytes pinned by digest, manifest validated, imports audited. */
export type LoadedGuest = GuestHandle;

const encoder = new TextEncoder();

/** Lowercase hex sha256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Loads guests and runs steps. */
export class Runtime {
  readonly registry: CapabilityRegistry;
  readonly executor: StepExecutor;
  #stepSeq = 0;

  constructor(options: RuntimeOptions) {
    this.registry = new CapabilityRegistry(options.plugins);
    this.executor = options.executor?.(this.registry) ??
      new InProcessExecutor({ registry: this.registry });
  }

  /** Parses a manifest against this runtime's plugins; throws `ManifestError`. */
  parseManifest(input: unknown, source?: string): Manifest {
    return parseManifest(input, this.registry, { source });
  }

  /**
   * Validates a guest for running: manifest parsed (unless already parsed),
   * module layout and limits checked, imports audited. Throws coded errors
   * (`manifest_invalid`, `module_invalid`, `memory_limit`, `unknown_import`).
   */
  async load(
    bytes: Uint8Array,
    manifest: unknown,
    options: LoadOptions = {},
  ): Promise<LoadedGuest> {
    const parsed = isParsedManifest(manifest)
      ? manifest
      : this.parseManifest(manifest, options.source);
    inspectGuest(bytes, parsed, this.registry);
    const digest = await sha256Hex(bytes);
    return {
      name: options.name ?? parsed.name ?? "guest",
      digest,
      id: await sha256Hex(encoder.encode(`${digest}\n${JSON.stringify(manifestToJson(parsed))}`)),
      bytes,
      manifest: parsed,
    };
  }

  /** Runs one step; guest failures are failed outcomes, never rejections. */
  async execute(
    guest: LoadedGuest,
    input: unknown,
    options: ExecuteOptions = {},
  ): Promise<StepOutcome> {
    const step: StepInfo = {
      stepId: options.step?.stepId ?? `local-${++this.#stepSeq}`,
      handler: options.step?.handler ?? guest.name,
      correlationId: options.step?.correlationId ?? crypto.randomUUID(),
    };
    const data: Record<string, unknown> = {};
    const sensitive: string[] = [];
    for (const [name, policy] of Object.entries(guest.manifest.capabilities)) {
      let prepared;
      try {
        prepared = await this.registry.get(name)?.prepareStep?.(policy, step);
      } catch (thrown) {
        // A broker half that cannot prepare (secret source down, secret too short) fails
        // the step; it never reaches a sandbox. Secret values are never in these messages.
        const error = errorFromThrown(thrown);
        error.details = { ...error.details, capability: name };
        return { status: "failed", result: null, error, metrics: emptyMetrics(), logs: [] };
      }
      if (prepared?.data !== undefined) data[name] = prepared.data;
      if (prepared?.sensitive) sensitive.push(...prepared.sensitive);
    }
    const bytes = input instanceof Uint8Array ? input : encoder.encode(JSON.stringify(input));
    const outcome = await this.executor.execute({
      guest,
      input: bytes,
      step,
      data,
      clock: options.clock,
      timeoutMs: options.timeoutMs ?? guest.manifest.limits.timeout_ms,
      ...(options.timeHostCalls ? { timeHostCalls: true } : {}),
    }, (capability, op, payload) => {
      const plugin = this.registry.get(capability);
      if (!plugin?.onBrokerCall || !(capability in guest.manifest.capabilities)) {
        return Promise.reject(
          new WasmBrokerError("internal", `no broker half for "${capability}"`),
        );
      }
      return plugin.onBrokerCall(guest.manifest.capabilities[capability], step, op, payload);
    });
    return sensitive.length ? scrubSecrets(outcome, sensitive) : outcome;
  }

  /** Stops the executor. */
  close(): Promise<void> {
    return this.executor.close();
  }
}

/**
 * Redacts secrets from log records and fails an outcome whose result or error
 * message carries one. The leaked value is never copied into the new error.
 */
export function scrubSecrets(outcome: StepOutcome, secrets: readonly string[]): StepOutcome {
  const scanner = createSecretScanner(secrets);
  // A record cut to the line cap may end in the first bytes of a secret: redactCut catches those.
  const logs = outcome.logs.map((record) => {
    const message = record.truncated
      ? scanner.redactCut(record.message)
      : scanner.redact(record.message);
    return message === record.message ? record : { ...record, message };
  });
  const resultLeaks = outcome.status === "completed" &&
    scanner.found(JSON.stringify(outcome.result));
  const errorLeaks = outcome.error !== null && scanner.found(JSON.stringify(outcome.error));
  if (!resultLeaks && !errorLeaks) return { ...outcome, logs };
  return {
    status: "failed",
    result: null,
    error: {
      code: "secret_leak",
      message: `step ${resultLeaks ? "result" : "error"} carried a secret value; the ${
        resultLeaks ? "result" : "error"
      } was withheld`,
      retryable: false,
      details: { where: resultLeaks ? "result" : "error", placeholder: REDACTED },
    },
    metrics: outcome.metrics,
    logs,
    ...(outcome.host_call_log ? { host_call_log: outcome.host_call_log } : {}),
  };
}
