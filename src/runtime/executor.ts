/**
 * Where guests run. The runtime hands every step to a {@link StepExecutor}:
 * the sandbox pool (separate processes, hard deadlines) in production, or
 * the in-process executor for trusted tests and benchmarks.
 *
 * @module
 */
import type { StepInfo } from "../capability/capability_plugin.ts";
import type { VirtualClockOptions } from "../capability/step_clock.ts";
import type { Manifest } from "../manifest/manifest.ts";
import type { StepOutcome } from "./step_outcome.ts";

/** A guest as executors receive it: bytes pinned by digest, with its manifest. */
export interface GuestHandle {
  readonly name: string;
  /** sha256 of `bytes`, lowercase hex. */
  readonly digest: string;
  /**
   * Cache key of the prepared guest: sha256 of the digest and the manifest.
   * The same bytes under another manifest are prepared again (other limits,
   * other grants), so executors cache by this, never by `digest` alone.
   */
  readonly id: string;
  readonly bytes: Uint8Array;
  readonly manifest: Manifest;
}

/** One step for an executor. */
export interface ExecuteRequest {
  guest: GuestHandle;
  /** The step envelope as UTF-8 JSON bytes. */
  input: Uint8Array;
  step: StepInfo;
  /** Per-capability data from the plugins' broker halves. */
  data: Readonly<Record<string, unknown>>;
  clock?: VirtualClockOptions;
  /** Hard deadline for the whole step, in milliseconds from now. */
  timeoutMs: number;
  /** Time the first host calls into `outcome.host_call_log`. */
  timeHostCalls?: boolean;
}

/** Answers a plugin's sandbox half (`ctx.callBroker`) from the broker process. */
export type BrokerCallHandler = (
  capability: string,
  op: string,
  payload: unknown,
) => Promise<unknown>;

/** Runs steps somewhere. */
export interface StepExecutor {
  /** Runs one step; never rejects for guest failures (they are failed outcomes). */
  execute(request: ExecuteRequest, onBrokerCall: BrokerCallHandler): Promise<StepOutcome>;
  /** Resolves once the executor can serve steps (e.g. sandboxes are warm). */
  ready(): Promise<void>;
  /**
   * Stops everything; in-flight steps fail with `sandbox_crashed`
   * (`details.reason` `"closed"`; the sandbox pool adds `details.started`:
   * false for a step no process ever took, which the broker hands back).
   */
  close(): Promise<void>;
}
