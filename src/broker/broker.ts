/**
 * The worker loop: read step messages from each namespace queue, claim the
 * steps this broker serves, run them in sandboxes and report the results
 * through Tasker's completion path.
 *
 * - Discovery: LISTEN on `pgmq_message_ready.<namespace>` wakes the loop at
 *   once; a fallback poller wakes it every `pollIntervalMs` (NOTIFY is best
 *   effort).
 * - Dispatch: at most `concurrency` steps claim and run at once; a step whose
 *   handler has run gives its slot back while its result is written (at most
 *   `concurrency` steps at a time, and not while the database is failing), so
 *   reports overlap the next steps.
 * - Backpressure with read-ahead: a read asks for at most the free dispatch
 *   slots plus 2 × concurrency; what cannot start yet waits in a bounded
 *   buffer (invisible, its visibility timeout extended), hydrated with its
 *   read's batch in one query. A saturated broker reads again only when the
 *   buffer is down to one concurrency's worth, and stop() hands the buffer
 *   back, so beyond that messages stay in the queue for other workers.
 * - A read message stays invisible while it waits for its claim (the
 *   visibility timeout is extended); after the claim it is archived and the
 *   step runs. A message whose callable is not served is left alone: it
 *   becomes visible to other workers when its visibility timeout ends.
 * - Database outages never crash the loop: reads back off, results are kept
 *   and their reports retried until they land.
 * - `stop()`: stop reading, hand back messages not yet claimed, let running
 *   steps finish within the grace period, then close the sandboxes (steps
 *   still running fail retryable with `sandbox_crashed`, so orchestration
 *   retries them; claimed steps still waiting for a sandbox are handed back
 *   with their attempt, as `releaseStep` does) and report what is left.
 *
 * @module
 */
import { Coalescer } from "../db/coalescer.ts";
import { type SqlClient, sqlState } from "../db/sql_client.ts";
import type { Runtime } from "../runtime/runtime.ts";
import type { StepOutcome } from "../runtime/step_outcome.ts";
import {
  type Claimed,
  type ClaimRequest,
  type ClaimResult,
  claimSteps,
  findOwnClaim,
  type OwnClaimQuery,
} from "../tasker/claim_step.ts";
import {
  type HydratedStep,
  type HydrateResult,
  hydrateStep,
  hydrateSteps,
} from "../tasker/hydrate_step.ts";
import {
  archiveMessage,
  createQueue,
  type QueueMessage,
  readMessages,
  setVisibilityTimeout,
} from "../tasker/pgmq_queue.ts";
import { namespaceQueueName, notifyChannel, RESULTS_QUEUE } from "../tasker/queue_names.ts";
import {
  findReadClaim,
  type HydrateAndClaimResult,
  hydrateOwnClaim,
  readAndClaim,
  type ReadAndClaimResult,
} from "../tasker/read_and_claim.ts";
import {
  handBackResult,
  type PreparedReport,
  prepareReport,
  type ReportResult,
  sendResultMessages,
  writeReports,
} from "../tasker/report_step.ts";
import { buildEnvelope } from "../tasker/step_envelope.ts";
import {
  failureResult,
  type ResultInfo,
  type StepExecutionResult,
  toStepExecutionResult,
} from "../tasker/step_execution_result.ts";
import { parseStepMessage, type StepMessage } from "../tasker/step_message.ts";
import { TaskerError } from "../tasker/tasker_error.ts";
import type { BrokerObserver, ClaimMethod, StepScope } from "./broker_observer.ts";
import type { HandlerResolver, ServedHandler } from "./handler_resolver.ts";
import { type ClaimableDefinitions, KnownDefinitions } from "./known_definitions.ts";

/** Settings of the loop (see `broker_config.ts` for their defaults). */
export interface BrokerSettings {
  namespaces: readonly string[];
  concurrency: number;
  batchSize: number;
  visibilityTimeoutSeconds: number;
  pollIntervalMs: number;
  shutdownGraceMs: number;
  workerId: string;
  /** `metadata.worker_hostname` of results. */
  hostname?: string;
}

/** What the loop works with. */
export interface BrokerDeps {
  /** The database with Tasker's tables. */
  tasker: SqlClient;
  /** The database with the pgmq queues (the same client unless PGMQ_DATABASE_URL is set). */
  queue: SqlClient;
  runtime: Runtime;
  resolver: HandlerResolver;
  observer: BrokerObserver;
}

/** What readiness checks and `/health` read. */
export interface BrokerStatus {
  state: "new" | "starting" | "running" | "stopping" | "stopped";
  databaseOk: boolean;
  lastDatabaseError?: string;
  /** Steps holding a dispatch slot (claiming or running). */
  inFlight: number;
  /**
   * Steps whose handler has run and whose result is being written, their slot
   * given back (at most `concurrency`; steps that kept their slot while
   * writing theirs count in `inFlight`).
   */
  reporting: number;
  concurrency: number;
}

const MAX_BACKOFF_MS = 5000;
/** Messages read ahead of a free slot: at most this many × concurrency. */
const READ_AHEAD_FACTOR = 2;

/** A read message waiting for a dispatch slot (read ahead), hydrated with its read's batch. */
interface Pending {
  namespace: string;
  queue: string;
  message: QueueMessage;
  method: ClaimMethod;
  parsed: { ok: true; message: StepMessage } | { ok: false; reason: string };
  /** This message's result of its read's one hydration query. */
  hydrated?: Promise<HydrateResult>;
  /** Instead, for a message read on the idle path: what its one statement found. */
  alone?: ReadAlone;
  extension?: { stop(): Promise<void> };
}

/** What the idle path's statement found for its message (see `src/tasker/read_and_claim.ts`). */
interface ReadAlone {
  result: HydrateAndClaimResult;
  /** The claim transition's timestamp. */
  at: Date;
  /** What the statement could claim, and the handlers to run it with. */
  claimable: ClaimableDefinitions;
  /** The statement's duration (or until its lost answer's claim was found), ms. */
  ms: number;
}

/** A claim already made (by the idle path's statement, or found after its lost answer). */
interface PriorClaim {
  claim: ClaimResult;
  at: Date;
  ms: number;
}
/** How long a queue's idle path rests after finding Tasker's schema missing. */
const SCHEMA_MISSING_PAUSE_MS = 10_000;

/** The extension of a message archived with its claim: nothing to keep invisible. */
const NO_EXTENSION = { stop: () => Promise.resolve() };

/** How long reports of steps that finished after the grace period may take. */
const FINAL_REPORT_MS = 15_000;

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The worker loop; see the module doc. */
export class Broker {
  readonly #deps: BrokerDeps;
  readonly #settings: BrokerSettings;
  readonly #queues: { namespace: string; queue: string }[];
  #state: BrokerStatus["state"] = "new";
  /** Steps holding a dispatch slot: from dispatch until their handler has run. */
  #inFlight = 0;
  /** Steps whose handler has run and whose result is being written, slot given back. */
  #reporting = 0;
  readonly #running = new Set<Promise<void>>();
  #pumping = false;
  #pumpAgain: ClaimMethod | null = null;
  /** The last read filled its batch or a NOTIFY came while saturated: read again on a free slot. */
  #backlog = false;
  #nextQueue = 0;
  #databaseOk = false;
  #lastDatabaseError?: string;
  #retryAfter = 0;
  #backoffMs = 100;
  #pollTimer?: ReturnType<typeof setInterval>;
  readonly #unlisten: (() => Promise<void>)[] = [];
  /** Aborted when the grace period ends: report retries give up waiting between tries. */
  readonly #hardStop = new AbortController();
  /** Aborted when stop() begins: unclaimed messages are handed back. */
  readonly #stopping = new AbortController();
  /**
   * Messages read ahead of a free slot (at most 2 × concurrency): the next
   * steps' read and hydration overlap running steps, and one read + one
   * hydration query serve several messages.
   */
  readonly #buffer: Pending[] = [];
  /** The last pump, which stop() waits for. */
  #pumped: Promise<void> = Promise.resolve();
  /**
   * Claims (per queue: the ack rides along) and reports go out in batches:
   * what finishes while a statement is out shares the next one (group
   * commit), so a busy broker sends one statement for several steps and an
   * idle one sends each at once.
   */
  readonly #claims = new Map<string, Coalescer<ClaimRequest, ClaimResult>>();
  readonly #reports: Coalescer<PreparedReport, ReportResult>;
  /**
   * Whether the queues live in Tasker's database: then the ack rides in the
   * claim's statement and the results message in the report's.
   */
  readonly #ackInClaim: boolean;
  /** The results messages, sent on the queue database after their report (queues elsewhere). */
  readonly #resultMessages: Coalescer<string, number> | undefined;
  /** Definitions the idle path's statement may claim. */
  readonly #known = new KnownDefinitions();
  /** The last idle-path claim timestamp (epoch ms), see #claimTimestamp. */
  #lastClaimAt = 0;
  /** Queues whose idle-path statement failed last: read in a batch next. */
  readonly #batchReadNext = new Set<string>();
  /** Queues whose idle path waits for Tasker's schema, until when (`performance.now()`). */
  readonly #idlePausedUntil = new Map<string, number>();
  /** Steps this broker is claiming or has claimed and not yet reported (a count per step). */
  readonly #held = new Map<string, number>();

  constructor(deps: BrokerDeps, settings: BrokerSettings) {
    this.#deps = deps;
    this.#settings = settings;
    this.#queues = settings.namespaces.map((namespace) => ({
      namespace,
      queue: namespaceQueueName(namespace),
    }));
    const maxBatch = settings.concurrency;
    // With the queues in Tasker's database the ack rides in the claim's statement:
    // claimed and archived commit together, so no crash window lies between them.
    const ackInClaim = deps.queue === deps.tasker;
    this.#ackInClaim = ackInClaim;
    for (const { queue } of this.#queues) {
      const archiveQueue = ackInClaim ? queue : undefined;
      this.#claims.set(
        queue,
        new Coalescer((requests) => claimSteps(deps.tasker, requests, { archiveQueue }), {
          maxBatch,
          key: (r) => r.stepUuid.toLowerCase(),
        }),
      );
    }
    this.#reports = new Coalescer(
      (reports) => writeReports(deps.tasker, reports, { sendMessages: ackInClaim }),
      { maxBatch, key: (r) => r.stepUuid.toLowerCase() },
    );
    // Two databases share no transaction: as Tasker's own workers do, the message follows
    // the report's commit (at least once: a send whose answer is lost is sent again).
    this.#resultMessages = ackInClaim
      ? undefined
      : new Coalescer((messages) => sendResultMessages(deps.queue, messages), { maxBatch });
  }

  /** A snapshot for health checks. */
  status(): BrokerStatus {
    return {
      state: this.#state,
      databaseOk: this.#databaseOk,
      lastDatabaseError: this.#lastDatabaseError,
      inFlight: this.#inFlight,
      reporting: this.#reporting,
      concurrency: this.#settings.concurrency,
    };
  }

  /** The namespace queues this broker reads. */
  queues(): readonly { namespace: string; queue: string }[] {
    return this.#queues;
  }

  /**
   * Creates the queues (retrying while the database is unreachable, until
   * `signal` aborts), subscribes to notifications and starts reading.
   */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.#state !== "new") throw new TypeError(`Cannot start a broker that is ${this.#state}`);
    this.#state = "starting";
    const { queue, observer } = this.#deps;
    for (;;) {
      try {
        for (const q of this.#queues) await createQueue(queue, q.queue);
        await createQueue(queue, RESULTS_QUEUE);
        for (const q of this.#queues) {
          this.#unlisten.push(
            await queue.listen(notifyChannel(q.namespace), () => this.#wake("event")),
          );
        }
        this.#databaseUp("start");
        break;
      } catch (error) {
        this.#databaseDown("start", error);
        if (signal?.aborted || this.#stopping.signal.aborted) throw error;
        await delay(this.#backoff(), signal);
      }
    }
    this.#state = "running";
    this.#pollTimer = setInterval(() => this.#wake("poll"), this.#settings.pollIntervalMs);
    observer.lifecycle("broker.started", {
      queues: this.#queues.map((q) => q.queue),
      concurrency: this.#settings.concurrency,
      worker_id: this.#settings.workerId,
    });
    this.#wake("poll");
  }

  /** Stops gracefully; see the module doc. Resolves when every claimed step is reported. */
  async stop(): Promise<void> {
    if (this.#state === "stopped" || this.#state === "stopping") return;
    this.#state = "stopping";
    this.#stopping.abort();
    clearInterval(this.#pollTimer);
    const { observer, runtime } = this.#deps;
    observer.lifecycle("broker.stopping", {
      in_flight: this.#inFlight,
      reporting: this.#reporting,
    });
    await Promise.all(this.#unlisten.splice(0).map((stop) => stop().catch(() => {})));
    // A read still out hands its messages back itself (see #pump); wait for it.
    await this.#pumped;
    // Read ahead but never dispatched: visible again for other workers at once.
    await Promise.all(
      this.#buffer.splice(0).map(async (p) => {
        await p.extension?.stop();
        await this.#handBack(p.queue, p.message.msgId);
      }),
    );
    const settled = Promise.allSettled([...this.#running]);
    const graceOver = await Promise.race([
      settled.then(() => false),
      delay(this.#settings.shutdownGraceMs).then(() => true),
    ]);
    if (graceOver) {
      observer.lifecycle("broker.grace_expired", {
        in_flight: this.#inFlight,
        reporting: this.#reporting,
      });
    }
    // Closing the sandboxes fails steps still running with `sandbox_crashed`
    // (retryable); their results are reported below like any other.
    await runtime.close();
    const reported = await Promise.race([
      Promise.allSettled([...this.#running]).then(() => true),
      delay(FINAL_REPORT_MS).then(() => false),
    ]);
    this.#hardStop.abort();
    if (!reported) {
      observer.lifecycle("broker.results_unreported", {
        in_flight: this.#inFlight,
        reporting: this.#reporting,
      });
    }
    this.#state = "stopped";
    observer.lifecycle("broker.stopped");
  }

  #wake(method: ClaimMethod): void {
    if (this.#state !== "running") return;
    if (this.#pumping) {
      this.#pumpAgain = this.#pumpAgain === "event" ? "event" : method;
      return;
    }
    if (this.#readRoom() === 0) {
      this.#backlog = true;
      return;
    }
    if (performance.now() < this.#retryAfter) return;
    this.#pumped = this.#pump(method).catch((error) =>
      this.#deps.observer.internalError("pump", error)
    );
  }

  /**
   * How many messages a read may ask for now: free slots plus the buffer's
   * room. 0 (saturated) when the buffer is full, or when every slot is busy
   * and the buffer still holds more than one concurrency's worth (read ahead
   * again only when it is down to that).
   */
  #readRoom(): number {
    const concurrency = this.#settings.concurrency;
    const free = concurrency - this.#inFlight;
    const room = free + READ_AHEAD_FACTOR * concurrency - this.#buffer.length;
    return room <= 0 || (free <= 0 && this.#buffer.length > concurrency) ? 0 : room;
  }

  async #pump(method: ClaimMethod): Promise<void> {
    this.#pumping = true;
    try {
      let current: ClaimMethod | null = method;
      while (current && this.#state === "running") {
        // Read again at once only where a read came back full: a short read found the
        // queue empty as of then, and a message sent since comes with its NOTIFY (which sets
        // #pumpAgain) or, failing that, the poller. An empty read after each message of a
        // lightly loaded queue would only compete with that message's own statements.
        let full = false;
        for (let i = 0; i < this.#queues.length && this.#state === "running"; i++) {
          this.#drainBuffer();
          const room = this.#readRoom();
          if (room === 0) {
            this.#backlog = true;
            return;
          }
          const q = this.#queues[this.#nextQueue];
          this.#nextQueue = (this.#nextQueue + 1) % this.#queues.length;
          if (this.#readsAlone(q.queue)) {
            const alone = await this.#readOneAndClaim(q.namespace, q.queue, current);
            if (!alone) return; // the database failed: backing off (#retryAfter)
            this.#backlog = alone.more;
            full ||= alone.more;
            continue;
          }
          const qty = Math.min(room, this.#settings.batchSize);
          let messages: QueueMessage[];
          try {
            messages = await readMessages(this.#deps.queue, q.queue, {
              vtSeconds: this.#settings.visibilityTimeoutSeconds,
              qty,
            });
            this.#databaseUp("read");
          } catch (error) {
            this.#databaseDown("read", error);
            this.#retryAfter = performance.now() + this.#backoff();
            return;
          }
          this.#batchReadNext.delete(q.queue);
          if (messages.length === 0) {
            this.#backlog = false;
            continue;
          }
          if (this.#state !== "running") {
            // stop() began while this read was out and has already handed back the buffer.
            await Promise.all(messages.map((m) => this.#handBack(q.queue, m.msgId)));
            return;
          }
          this.#backlog = messages.length === qty;
          full ||= this.#backlog;
          this.#deps.observer.read(q.queue, messages.length, current);
          this.#bufferBatch(q.namespace, q.queue, messages, current);
          this.#drainBuffer();
        }
        current = full ? current : this.#pumpAgain;
        this.#pumpAgain = null;
      }
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * Whether the next read of `queue` is one message read, hydrated and
   * claimed in one statement: when the broker is idle — nothing buffered, a
   * slot free, no backlog — and the queues live in Tasker's database (the ack
   * rides in the claim), unless that statement last failed on this queue. A
   * backlog is read in batches.
   */
  #readsAlone(queue: string): boolean {
    return this.#ackInClaim && !this.#backlog && this.#buffer.length === 0 &&
      this.#inFlight < this.#settings.concurrency && !this.#batchReadNext.has(queue) &&
      (this.#idlePausedUntil.get(queue) ?? 0) <= performance.now();
  }

  /**
   * The idle path's read (see `src/tasker/read_and_claim.ts`): the message it
   * returns is dispatched at once, claimed already when its definition was
   * known. Undefined when the database failed; a claim the statement may have
   * committed is then looked up in the background.
   */
  async #readOneAndClaim(
    namespace: string,
    queue: string,
    method: ClaimMethod,
  ): Promise<{ more: boolean } | undefined> {
    const claimable = await this.#known.claimable(this.#deps.resolver);
    if (this.#state !== "running") return { more: false };
    const at = this.#claimTimestamp();
    const sentAt = performance.now();
    let answer: ReadAndClaimResult;
    try {
      answer = await readAndClaim(this.#deps.tasker, {
        queue,
        vtSeconds: this.#settings.visibilityTimeoutSeconds,
        workerUuid: this.#settings.workerId,
        at,
        known: claimable.definitions,
      });
      this.#databaseUp("read");
    } catch (error) {
      if (error instanceof TaskerError && error.taskerCode === "tasker_schema_missing") {
        // Tasker (or the demo's double) is not installed yet: the database is up and the
        // start-up warning said so. Batch reads only, for a while: they fail only when a
        // message comes, as they did before the idle path existed. Nothing was read.
        this.#idlePausedUntil.set(queue, performance.now() + SCHEMA_MISSING_PAUSE_MS);
        return { more: true };
      }
      this.#databaseDown("read", error);
      this.#retryAfter = performance.now() + this.#backoff();
      // This queue's next read is a batch read: it hides what it reads before anything else
      // can fail, so a message whose statement keeps failing (a deadlock, a data error)
      // cannot hold the queue as the one the idle read takes first every time.
      this.#batchReadNext.add(queue);
      if (claimable.definitions.size > 0) {
        const work = this.#runLostReadClaim({ namespace, queue, method, at, sentAt, claimable })
          .catch((e) => this.#deps.observer.internalError("process", e))
          .finally(() => this.#running.delete(work));
        this.#running.add(work);
      }
      return undefined;
    }
    const { message, step } = answer;
    if (!message) return { more: answer.more };
    this.#deps.observer.read(queue, 1, method);
    const claim = step?.result.claim;
    const claimed = claim !== undefined && claim !== "already_claimed" && "claimed" in claim;
    if (this.#state !== "running" && !claimed) {
      // stop() began while the statement was out: as after a plain read, hand it back.
      await this.#handBack(queue, message.msgId);
      return { more: false };
    }
    const pending: Pending = {
      namespace,
      queue,
      message,
      method,
      parsed: step ? { ok: true, message: step.message } : parseStepMessage(message.message),
    };
    if (step) {
      pending.alone = { result: step.result, at, claimable, ms: performance.now() - sentAt };
    } else if (pending.parsed.ok) {
      // A body the statement could not key (a double-encoded one), or a message newer than
      // the statement's snapshot: hydrated on its own.
      pending.hydrated = hydrateStep(this.#deps.tasker, pending.parsed.message);
      pending.hydrated.catch(() => {}); // awaited in #process
    }
    // Poison is archived at once; a claimed step's message is archived already.
    pending.extension = claimed || !pending.parsed.ok
      ? NO_EXTENSION
      : this.#extendWhileWaiting(queue, message.msgId);
    // A slot was free when the statement was sent, and only this pump takes slots; a step
    // claimed while stop() began runs like any claimed step (stop() waits for the pump).
    void this.#dispatch(pending);
    return { more: answer.more };
  }

  /**
   * An idle-path claim's timestamp (`metadata.timestamp`): a millisecond
   * after the last one at least, since a lost answer's claim is looked up
   * by this worker and this timestamp (the idle path sends one statement at
   * a time, each longer than a millisecond, so this stays with the clock).
   * A batch-path claim of the same millisecond is a step this broker holds,
   * which the look-up leaves out.
   */
  #claimTimestamp(): Date {
    const ms = Math.max(Date.now(), this.#lastClaimAt + 1);
    this.#lastClaimAt = ms;
    return new Date(ms);
  }

  /**
   * After an idle-path read whose answer was lost: the step it claimed, if
   * it committed a claim, hydrated again and run (its slot taken even if
   * every slot is busy by now: a claimed step must run).
   */
  async #runLostReadClaim(lost: {
    namespace: string;
    queue: string;
    method: ClaimMethod;
    at: Date;
    sentAt: number;
    claimable: ClaimableDefinitions;
  }): Promise<void> {
    const found = await this.#retrying("claim_lookup", () =>
      findReadClaim(this.#deps.tasker, {
        queue: lost.queue,
        workerUuid: this.#settings.workerId,
        at: lost.at,
        sinceSeconds: Math.ceil((performance.now() - lost.sentAt) / 1000),
        exclude: new Set(this.#held.keys()),
      }));
    if (!found?.value) return; // not claimed: a message read comes back after its visibility timeout
    const { message, claim } = found.value;
    const parsed = parseStepMessage(message.message);
    if (!parsed.ok) return; // unreachable: the statement claims only step messages
    const result = await this.#hydrateClaimed(parsed.message, claim);
    if (!result) return;
    await this.#dispatch({
      namespace: lost.namespace,
      queue: lost.queue,
      message,
      method: lost.method,
      parsed,
      alone: {
        result,
        at: lost.at,
        claimable: lost.claimable,
        ms: performance.now() - lost.sentAt,
      },
      extension: NO_EXTENSION,
    });
  }

  /** Parses a read's messages and hydrates them all in one query; they wait in the buffer. */
  #bufferBatch(
    namespace: string,
    queue: string,
    messages: QueueMessage[],
    method: ClaimMethod,
  ): void {
    const pending: Pending[] = messages.map((message) => ({
      namespace,
      queue,
      message,
      method,
      parsed: parseStepMessage(message.message),
    }));
    const good = pending.filter((p) => p.parsed.ok);
    if (good.length > 0) {
      const batch = hydrateSteps(
        this.#deps.tasker,
        good.map((p) => (p.parsed as { message: StepMessage }).message),
      );
      good.forEach((p, k) => {
        p.hydrated = batch.then((results) => results[k]);
        // Awaited in #process, which handles a failure; until then (or if stop() hands the
        // message back first) a rejection must not count as unhandled and end the process.
        p.hydrated.catch(() => {});
        p.extension = this.#extendWhileWaiting(queue, p.message.msgId);
      });
    }
    this.#buffer.push(...pending);
  }

  #drainBuffer(): void {
    while (
      this.#state === "running" && this.#buffer.length > 0 &&
      this.#inFlight < this.#settings.concurrency
    ) {
      this.#dispatch(this.#buffer.shift()!);
    }
  }

  #dispatch(pending: Pending): Promise<void> {
    this.#inFlight++;
    let released = false;
    // Once the handler has run, the step gives its slot back while its result is written,
    // so the next step's claim and run overlap the report — unless `concurrency` results
    // are being written so already, or the database's last answer was an error: then it
    // keeps the slot, and dispatch waits for the database as before.
    const release = () => {
      if (
        released || !this.#databaseOk || this.#reporting >= this.#settings.concurrency
      ) return;
      released = true;
      this.#inFlight--;
      this.#reporting++;
      try {
        this.#drainBuffer();
        if (this.#backlog) this.#wake("poll");
      } catch (error) {
        // Never in the way of this step's own report.
        this.#deps.observer.internalError("dispatch", error);
      }
    };
    const work = this.#process(pending, release)
      .catch((error) => this.#deps.observer.internalError("process", error))
      .finally(() => {
        if (released) this.#reporting--;
        else this.#inFlight--;
        this.#running.delete(work);
        this.#drainBuffer();
        if (this.#backlog) this.#wake("poll");
      });
    this.#running.add(work);
    return work;
  }

  /** One message, from its body to the reported result (or the reason it was skipped). */
  async #process(pending: Pending, release: () => void): Promise<void> {
    const { namespace, queue, message, method, parsed } = pending;
    const { observer } = this.#deps;
    if (!parsed.ok) {
      await this.#archive(queue, message.msgId);
      observer.poison(queue, message.msgId, "bad_message", parsed.reason);
      return;
    }
    const extension = pending.extension!;
    let handedOff = false;
    try {
      let hydrated: HydrateResult;
      let prior: PriorClaim | undefined;
      const alone = pending.alone;
      if (alone) {
        hydrated = alone.result.hydrated;
        if (alone.result.claim) prior = { claim: alone.result.claim, at: alone.at, ms: alone.ms };
      } else {
        try {
          hydrated = await pending.hydrated!;
          this.#databaseUp("hydrate");
        } catch (error) {
          // Left invisible: the message comes back after its visibility timeout.
          this.#databaseDown("hydrate", error);
          return;
        }
      }
      if (!hydrated.ok) {
        await this.#archive(queue, message.msgId);
        const reason = hydrated.code === "not_claimable" ? "not_claimable" : "bad_step";
        observer.poison(queue, message.msgId, reason, `${hydrated.code}: ${hydrated.reason}`);
        return;
      }
      const step = hydrated.step;
      if (prior) {
        // Claimed already: it runs, also once stop() has begun. Its digest was one of the
        // statement's, so its handler is known (unless the template changed since).
        const digest = alone!.result.definitionDigest ?? "";
        const handler = alone!.claimable.handlers.get(digest) ??
          await this.#handlerForClaimed(step);
        if (!handler) return;
        if (digest) this.#known.remember(digest, step.definition); // used: kept longest
        handedOff = true;
        void extension.stop();
        await this.#runClaimed(
          namespace,
          queue,
          message,
          method,
          step,
          handler,
          release,
          prior,
        );
        return;
      }
      const callable = step.definition.handler.callable;
      const resolution = await this.#deps.resolver.resolve(callable);
      if (!resolution.served) {
        if (resolution.reason === "unavailable") {
          observer.unavailable(callable, resolution.code, resolution.message);
        } else {
          observer.notServed(queue, message.msgId, callable, resolution.reason);
        }
        return;
      }
      const learned = alone?.result.definitionDigest;
      if (learned) this.#known.remember(learned, step.definition); // claimed in one statement next
      if (this.#stopping.signal.aborted) {
        // Stop extending first: an extension landing after the hand-back would hide it again.
        await extension.stop();
        await this.#handBack(queue, message.msgId);
        return;
      }
      handedOff = true;
      void extension.stop(); // the claim decides from here; a late extension is harmless
      await this.#runClaimed(namespace, queue, message, method, step, resolution.handler, release);
    } finally {
      if (!handedOff) void extension.stop();
    }
  }

  async #runClaimed(
    namespace: string,
    queue: string,
    message: QueueMessage,
    method: ClaimMethod,
    step: HydratedStep,
    handler: ServedHandler,
    release: () => void,
    prior?: PriorClaim,
  ): Promise<void> {
    const { observer } = this.#deps;
    const scope = observer.step({
      namespace,
      queue,
      msgId: message.msgId,
      taskUuid: step.task.uuid,
      stepUuid: step.step.uuid,
      correlationId: step.task.correlationId,
      stepName: step.step.name,
      callable: step.definition.handler.callable,
    });
    // Held from before the claim is sent: a lost idle-path answer's look-up must not take this
    // claim for its own, even while this claim's answer is still on its way.
    const held = step.step.uuid.toLowerCase();
    this.#held.set(held, (this.#held.get(held) ?? 0) + 1);
    try {
      const claimStarted = performance.now();
      const input = {
        stepUuid: step.step.uuid,
        workerUuid: this.#settings.workerId,
        correlationId: step.task.correlationId,
      };
      let claim;
      if (prior) {
        // Made in the hydration's statement: the span marks where, the metric counts its time.
        claim = await scope.phase("worker.claim", () => Promise.resolve(prior.claim));
      } else {
        const claimedAt = new Date();
        try {
          claim = await scope.phase(
            "worker.claim",
            () =>
              this.#claims.get(queue)!.submit({ ...input, at: claimedAt, msgId: message.msgId }),
          );
          this.#databaseUp("claim");
        } catch (error) {
          this.#databaseDown("claim", error);
          // The answer may be lost after the claim committed: then the step is ours.
          claim = await this.#findLostClaim({ ...input, timestamp: claimedAt });
          if (!claim) return; // not claimed: the message comes back after its visibility timeout
        }
      }
      if (claim === "already_claimed" || "notClaimable" in claim) {
        // A claim that lost on the unique index rolled its ack back: archive (again) here.
        await this.#archive(queue, message.msgId);
        scope.lostClaim(claim === "already_claimed" ? "in_progress" : claim.notClaimable);
        return;
      }
      scope.claimed(prior ? prior.ms : performance.now() - claimStarted, method);
      if (claim.archived === undefined) await this.#archive(queue, message.msgId);

      const startedAt = new Date();
      const outcome = await this.#execute(step, claim.attempts, handler, scope.tracing === true);
      const completedAt = new Date();
      release();
      const info: ResultInfo = {
        stepUuid: step.step.uuid,
        workerId: this.#settings.workerId,
        startedAt,
        completedAt,
        handlerVersion: `${handler.name}@${handler.version}`,
        stepName: step.step.name,
        stepType: step.definition.type,
        workerHostname: this.#settings.hostname,
      };
      if (this.#state === "stopping" && neverStarted(outcome)) {
        // Stopped past the grace period before a sandbox took the step: its handler never ran,
        // so it is handed back with its attempt (releaseStep's report) rather than failed.
        scope.handedBack();
        await this.#report(step, handBackResult(info), info, scope, claim.sortKey, true);
        return;
      }
      scope.ran(outcome, handler);
      await this.#report(step, toStepExecutionResult(outcome, info), info, scope, claim.sortKey);
    } finally {
      const count = this.#held.get(held)! - 1;
      if (count === 0) this.#held.delete(held);
      else this.#held.set(held, count);
      scope.end();
    }
  }

  #execute(
    step: HydratedStep,
    attempts: number,
    handler: ServedHandler,
    timeHostCalls: boolean,
  ): Promise<StepOutcome> {
    const envelope = buildEnvelope(step, { attempts });
    const limit = handler.guest.manifest.limits.timeout_ms;
    const stepTimeout = step.definition.timeout_seconds;
    const timeoutMs = stepTimeout === undefined ? limit : Math.min(limit, stepTimeout * 1000);
    return this.#deps.runtime.execute(handler.guest, envelope, {
      step: {
        stepId: step.step.uuid,
        handler: `${handler.name}@${handler.version}`,
        correlationId: step.task.correlationId,
      },
      timeoutMs,
      timeHostCalls,
    });
  }

  /** Writes the result; retries through database outages until it lands or the hard stop. */
  async #report(
    step: HydratedStep,
    result: StepExecutionResult,
    info: ResultInfo,
    scope: StepScope,
    claimSortKey: number,
    revertAttempt = false,
  ): Promise<void> {
    const prepare = (result: StepExecutionResult) =>
      prepareReport(
        {
          stepUuid: step.step.uuid,
          taskUuid: step.task.uuid,
          correlationId: step.task.correlationId,
          workerUuid: this.#settings.workerId,
          result,
          claimSortKey,
        },
        {},
        revertAttempt,
      );
    let report = prepare(result);
    let replaced = false;
    for (let attempt = 1;; attempt++) {
      const started = performance.now();
      try {
        const reported = await scope.phase("worker.report", () => this.#reports.submit(report));
        this.#databaseUp("report");
        // "already_reported": an earlier try committed and its answer was lost.
        if (reported === "reported" || reported.reason === "already_reported") {
          if (this.#resultMessages && !await this.#sendResultMessage(report.message, scope)) {
            return;
          }
          scope.reported(result, performance.now() - started);
        } else scope.reportSkipped(`${reported.skipped} (${reported.reason})`);
        return;
      } catch (error) {
        const state = sqlState(error);
        if (state?.startsWith("22")) {
          scope.reportFailed(error, attempt);
          // A value PostgreSQL cannot store (U+0000 in a string, say) in the output or an
          // error text: no retry can write it. The step fails permanently, in words of ours
          // (the first time; should even those be refused, nothing more can be done).
          if (replaced) return;
          replaced = true;
          result = failureResult(info, {
            code: "output_invalid",
            message:
              `Cannot store the step's result as PostgreSQL refused a value in it (SQLSTATE ${state}): ` +
              "its output or an error message holds what PostgreSQL's jsonb cannot, such as U+0000",
            retryable: false,
          });
          // A replaced result is a failure like any other: its attempt counts.
          revertAttempt = false;
          report = prepare(result);
          continue;
        }
        this.#databaseDown("report", error);
        scope.reportFailed(error, attempt);
        if (!await this.#backOffUnlessHardStop(attempt)) {
          // Queues apart: a try whose answer was lost may have written the result, and then
          // nothing will send its message.
          if (this.#resultMessages) scope.resultMessageNotSent(error, attempt);
          return;
        }
      }
    }
  }

  /**
   * Sends a written report's results message on the queue database; retries
   * through outages until it is sent (true) or the hard stop (false). A
   * message not sent leaves the step `enqueued_for_orchestration` (or
   * `enqueued_as_error_for_orchestration`) with nothing to tell
   * orchestration: only Tasker's staleness recovery finds it then.
   */
  async #sendResultMessage(message: string, scope: StepScope): Promise<boolean> {
    for (let attempt = 1;; attempt++) {
      try {
        await scope.phase("worker.result_message", () => this.#resultMessages!.submit(message));
        this.#databaseUp("result_message");
        return true;
      } catch (error) {
        this.#databaseDown("result_message", error);
        if (!await this.#backOffUnlessHardStop(attempt)) {
          scope.resultMessageNotSent(error, attempt);
          return false;
        }
      }
    }
  }

  /**
   * Waits before try `attempt + 1` of a write that must land (100 ms doubling,
   * at most 5 s); false, at once or when it comes, once the hard stop has begun.
   */
  async #backOffUnlessHardStop(attempt: number): Promise<boolean> {
    const stop = this.#hardStop.signal;
    await delay(Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(attempt, 6)), stop);
    return !stop.aborted;
  }

  /**
   * Whether a claim whose answer was lost committed (see `findOwnClaim`).
   * Asks for up to ~30 s while the database is down; `undefined` when it did
   * not commit or the question cannot be answered (then, if it did commit,
   * Tasker's staleness recovery brings the step back).
   */
  async #findLostClaim(query: OwnClaimQuery): Promise<Claimed | undefined> {
    return (await this.#retrying("claim_lookup", () => findOwnClaim(this.#deps.tasker, query)))
      ?.value;
  }

  /**
   * `fn` until it answers, backing off between tries (at most 8, and none
   * after the hard stop); undefined when it never answered.
   */
  async #retrying<T>(operation: string, fn: () => Promise<T>): Promise<{ value: T } | undefined> {
    for (let attempt = 0; attempt < 8 && !this.#hardStop.signal.aborted; attempt++) {
      try {
        const value = await fn();
        this.#databaseUp(operation);
        return { value };
      } catch (error) {
        this.#databaseDown(operation, error);
        await delay(Math.min(MAX_BACKOFF_MS, 250 * 2 ** attempt), this.#hardStop.signal);
      }
    }
    return undefined;
  }

  /**
   * A step this worker claimed in a statement whose answer was lost,
   * hydrated again with its claim; undefined (logged) when it cannot be.
   */
  async #hydrateClaimed(
    message: StepMessage,
    claim: Claimed,
  ): Promise<HydrateAndClaimResult | undefined> {
    const found = await this.#retrying(
      "hydrate",
      () => hydrateOwnClaim(this.#deps.tasker, message),
    );
    if (found?.value.hydrated.ok) return { ...found.value, claim };
    // Claimed, but not runnable here: moved on since (Tasker's recovery), its template changed,
    // or the database did not answer. Tasker's staleness recovery retries it.
    const why = found && !found.value.hydrated.ok
      ? found.value.hydrated.reason
      : "the database did not answer";
    this.#deps.observer.internalError(
      "claimed_step_unhydrated",
      new Error(
        `Cannot run claimed step ${message.step_uuid} as it cannot be hydrated again: ${why}`,
      ),
    );
    return undefined;
  }

  /** The handler for a step claimed in a statement whose digest is no longer known. */
  async #handlerForClaimed(step: HydratedStep): Promise<ServedHandler | undefined> {
    const resolution = await this.#deps.resolver.resolve(step.definition.handler.callable);
    if (resolution.served) return resolution.handler;
    // Claimed but not runnable here: Tasker's staleness recovery retries it.
    this.#deps.observer.internalError(
      "claimed_step_unserved",
      new Error(
        `Cannot run claimed step ${step.step.uuid} as ${step.definition.handler.callable} is not ` +
          `served now: ${resolution.message}`,
      ),
    );
    return undefined;
  }

  /**
   * Keeps a waiting message invisible. `stop()` resolves once no extension
   * is in flight, so a hand-back issued after it cannot be overtaken by one.
   */
  #extendWhileWaiting(queue: string, msgId: number): { stop(): Promise<void> } {
    const vt = this.#settings.visibilityTimeoutSeconds;
    let inFlight: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      inFlight = setVisibilityTimeout(this.#deps.queue, queue, msgId, vt)
        .then(() => this.#deps.observer.visibilityExtended(queue, msgId))
        .catch((error) => this.#databaseDown("set_vt", error));
    }, Math.max(500, (vt * 1000) / 2));
    return {
      stop: () => {
        clearInterval(timer);
        return inFlight;
      },
    };
  }

  async #archive(queue: string, msgId: number): Promise<void> {
    try {
      await archiveMessage(this.#deps.queue, queue, msgId);
      this.#databaseUp("archive");
    } catch (error) {
      // A message left unarchived comes back; the step's state then makes it a stale message.
      this.#databaseDown("archive", error);
    }
  }

  async #handBack(queue: string, msgId: number): Promise<void> {
    try {
      await setVisibilityTimeout(this.#deps.queue, queue, msgId, 0);
    } catch (error) {
      this.#databaseDown("hand_back", error);
    }
  }

  #databaseUp(operation: string): void {
    if (!this.#databaseOk && this.#lastDatabaseError !== undefined) {
      this.#deps.observer.databaseRecovered(operation);
    }
    this.#databaseOk = true;
    this.#lastDatabaseError = undefined;
    this.#backoffMs = 100;
    this.#retryAfter = 0;
  }

  #databaseDown(operation: string, error: unknown): void {
    this.#databaseOk = false;
    this.#lastDatabaseError = `${operation}: ${messageOf(error)}`;
    this.#deps.observer.databaseError(operation, error);
  }

  #backoff(): number {
    const ms = this.#backoffMs;
    this.#backoffMs = Math.min(MAX_BACKOFF_MS, this.#backoffMs * 2);
    return ms;
  }
}

/**
 * A step the sandbox pool failed because it closed before any process took
 * the step (`details.started` is the pool's own: sandbox_protocol.ts drops it
 * from what a process reports).
 */
function neverStarted(outcome: StepOutcome): boolean {
  return outcome.error?.code === "sandbox_crashed" && outcome.error.details?.started === false;
}
