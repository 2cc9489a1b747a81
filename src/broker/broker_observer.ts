/**
 * What the broker loop reports as it works. The loop only calls these
 * methods; `telemetry_observer.ts` turns them into metrics, spans and JSON
 * logs, and tests record them. Every call is synchronous and must not throw.
 *
 * @module
 */
import type { StepOutcome } from "../runtime/step_outcome.ts";

/** How a message was found: a NOTIFY woke the loop, or the fallback poller did. */
export type ClaimMethod = "event" | "poll";

/** Why a message was archived without running a step. */
export type PoisonReason =
  /** The body is not the `{task_uuid, step_uuid, correlation_id}` Tasker sends. */
  | "bad_message"
  /** The task, step or step definition the message names is missing or malformed. */
  | "bad_step"
  /** The step is in a state no worker may claim (stale message). */
  | "not_claimable";

/** The step a scope is about. */
export interface StepLabels {
  namespace: string;
  queue: string;
  msgId: number;
  taskUuid: string;
  stepUuid: string;
  correlationId: string;
  stepName: string;
  callable: string;
}

/** Reports about one claimed step, from claim to result. */
export interface StepScope {
  /**
   * Whether this step's spans are recorded: the sandbox then times the
   * guest's host calls for them (absent: not recorded, nothing timed).
   */
  readonly tracing?: boolean;
  /**
   * Runs one phase of the step (`worker.claim`, `worker.report`) so its time
   * is measured where it happens (a child span when tracing is on).
   */
  phase<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** The claim transaction finished (`ms` = its duration). */
  claimed(ms: number, method: ClaimMethod): void;
  /** Another worker won the claim, or the step was no longer claimable. */
  lostClaim(state: string): void;
  /** The guest ran (the outcome is already scrubbed of secrets). */
  ran(outcome: StepOutcome, handler: { name: string; version: string; digest: string }): void;
  /**
   * The broker stopped before a sandbox took the step: it is handed back
   * (`worker_shutdown`, its attempt taken back) instead of run.
   */
  handedBack(): void;
  /** The StepExecutionResult was written (`ms` = the report transaction). */
  reported(
    result: { success: boolean; status: string; metadata: Record<string, unknown> },
    ms: number,
  ): void;
  /** The report failed and will be retried. */
  reportFailed(error: unknown, attempt: number): void;
  /** The step's current state forbade a result (someone else moved it). */
  reportSkipped(state: string): void;
  /**
   * Queues in a separate database: the hard stop came before the step's
   * results message was sent (`attempt` tries). The result is written — or,
   * when the report's own answer was lost, may be — and orchestration is not
   * told. The step is not counted as reported.
   */
  resultMessageNotSent(error: unknown, attempt: number): void;
  /** The scope is over. */
  end(): void;
}

/** Everything the loop reports. */
export interface BrokerObserver {
  /** `count` messages were read from `queue`. */
  read(queue: string, count: number, method: ClaimMethod): void;
  /** A message was archived without a step running. */
  poison(queue: string, msgId: number, reason: PoisonReason, detail: string): void;
  /** A step's callable is not served here; the message is left for other workers. */
  notServed(queue: string, msgId: number, callable: string, reason: string): void;
  /** A served callable could not be loaded (digest mismatch, refused manifest, ...). */
  unavailable(callable: string, code: string, message: string): void;
  /** A database call failed; the loop backs off and retries. */
  databaseError(operation: string, error: unknown): void;
  /** The database answered again after errors. */
  databaseRecovered(operation: string): void;
  /** A waiting message's visibility timeout was extended. */
  visibilityExtended(queue: string, msgId: number): void;
  /** A claimed step begins; the scope reports the rest. */
  step(labels: StepLabels): StepScope;
  /** Free-form lifecycle events (start, shutdown phases). */
  lifecycle(event: string, fields?: Record<string, unknown>): void;
  /** A bug: something threw where nothing should. */
  internalError(where: string, error: unknown): void;
}

const NOOP_SCOPE: StepScope = {
  phase: (_name, fn) => fn(),
  claimed() {},
  lostClaim() {},
  ran() {},
  handedBack() {},
  reported() {},
  reportFailed() {},
  reportSkipped() {},
  resultMessageNotSent() {},
  end() {},
};

/** An observer that discards everything. */
export const NOOP_OBSERVER: BrokerObserver = {
  read() {},
  poison() {},
  notServed() {},
  unavailable() {},
  databaseError() {},
  databaseRecovered() {},
  visibilityExtended() {},
  step: () => NOOP_SCOPE,
  lifecycle() {},
  internalError() {},
};

/**
 * One observer that tells each of `observers` everything, in order: the
 * telemetry observer beside a test's or a bench's recorder, say. A step's
 * scope is each observer's scope; its phases nest, the first observer's
 * outermost, and its spans are recorded when any scope records them.
 *
 * @example
 * ```ts
 * import { combineObservers, NOOP_OBSERVER } from "./broker_observer.ts";
 * const reads: number[] = [];
 * const observer = combineObservers(NOOP_OBSERVER, { ...NOOP_OBSERVER, read: (_q, n) => reads.push(n) });
 * observer.read("worker_catalog_queue", 3, "event");
 * console.assert(reads[0] === 3);
 * ```
 */
export function combineObservers(...observers: BrokerObserver[]): BrokerObserver {
  if (observers.length === 1) return observers[0];
  return {
    read: (...args) => observers.forEach((o) => o.read(...args)),
    poison: (...args) => observers.forEach((o) => o.poison(...args)),
    notServed: (...args) => observers.forEach((o) => o.notServed(...args)),
    unavailable: (...args) => observers.forEach((o) => o.unavailable(...args)),
    databaseError: (...args) => observers.forEach((o) => o.databaseError(...args)),
    databaseRecovered: (...args) => observers.forEach((o) => o.databaseRecovered(...args)),
    visibilityExtended: (...args) => observers.forEach((o) => o.visibilityExtended(...args)),
    step: (labels) => combineScopes(observers.map((o) => o.step(labels))),
    lifecycle: (...args) => observers.forEach((o) => o.lifecycle(...args)),
    internalError: (...args) => observers.forEach((o) => o.internalError(...args)),
  };
}

function combineScopes(scopes: StepScope[]): StepScope {
  return {
    tracing: scopes.some((s) => s.tracing === true),
    phase: <T>(name: string, fn: () => Promise<T>) =>
      scopes.reduceRight<() => Promise<T>>((inner, s) => () => s.phase(name, inner), fn)(),
    claimed: (...args) => scopes.forEach((s) => s.claimed(...args)),
    lostClaim: (...args) => scopes.forEach((s) => s.lostClaim(...args)),
    ran: (...args) => scopes.forEach((s) => s.ran(...args)),
    handedBack: () => scopes.forEach((s) => s.handedBack()),
    reported: (...args) => scopes.forEach((s) => s.reported(...args)),
    reportFailed: (...args) => scopes.forEach((s) => s.reportFailed(...args)),
    reportSkipped: (...args) => scopes.forEach((s) => s.reportSkipped(...args)),
    resultMessageNotSent: (...args) => scopes.forEach((s) => s.resultMessageNotSent(...args)),
    end: () => scopes.forEach((s) => s.end()),
  };
}
