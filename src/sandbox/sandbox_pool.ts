/**
 * The sandbox pool: a {@link StepExecutor} that runs every step in a
 * separate `deno` process holding no credentials, and enforces deadlines
 * with SIGKILL (the only thing that stops a spinning wasm loop: neither
 * `Worker.terminate()` nor a `node:vm` timeout covers every case).
 *
 * - Processes are grouped by permission profile (network hosts + memory
 *   cap, see `sandbox_profile.ts`); a step only runs in a process of its
 *   own profile. Profiles start lazily; the default profile (no network) is
 *   pre-warmed; the total is bounded and idle processes are reaped.
 * - Each process compiles a module once (cached by digest and manifest) and
 *   runs every step in a fresh instance.
 * - At a step's deadline its process is killed and the step fails with
 *   `timeout` (retryable). Other steps that were running in a process that
 *   was killed or crashed are run once more elsewhere, alone; a second loss
 *   fails them with `sandbox_crashed` (retryable).
 *
 * See docs/sandbox.md.
 *
 * @module
 */
import type { PluginSource } from "../capability/capability_plugin.ts";
import type { CapabilityRegistry } from "../capability/capability_registry.ts";
import { type ErrorCode, WasmBrokerError } from "../errors.ts";
import type { Manifest } from "../manifest/manifest.ts";
import type { BrokerCallHandler, ExecuteRequest, StepExecutor } from "../runtime/executor.ts";
import { errorFromThrown } from "../runtime/run_step.ts";
import { emptyMetrics, type StepOutcome } from "../runtime/step_outcome.ts";
import { sandboxEntry } from "./sandbox_entry.ts";
import { type SandboxExit, type SandboxLogEvent, SandboxProcess } from "./sandbox_process.ts";
import { type SandboxProfile, sandboxProfile } from "./sandbox_profile.ts";
import {
  type CallMessage,
  type DoneMessage,
  jsonPayload,
  parseJsonPayload,
  ProtocolError,
  readOutcome,
} from "./sandbox_protocol.ts";

/** Options for {@link SandboxPool}. */
export interface SandboxPoolOptions {
  /** The plugins; each granted one needs a `source` so sandboxes can re-create it. */
  registry: CapabilityRegistry;
  /** Default-profile processes kept warm; `ready()` waits for them. Default 1. */
  prewarm?: number;
  /** Most processes alive at once, all profiles together. Default max(2, CPU count). */
  maxProcesses?: number;
  /** Steps one process runs at the same time. Default 1. */
  stepsPerProcess?: number;
  /** A process idle this long is stopped (warm default-profile ones excepted). Default 30 s. */
  idleMs?: number;
  /**
   * After a step's deadline, the sandbox gets this long to report `timeout`
   * itself (a guest waiting on an async host call that honours
   * `ctx.signal`) before it is killed. Default 25 ms.
   */
  killGraceMs?: number;
  /** A process not ready after this long is killed. Default 30 s (a loaded machine is slow). */
  startTimeoutMs?: number;
  /**
   * After a process fails to start, no other of its profile is started for
   * this long while one of that profile lives to serve its steps, and then
   * the pool tries again (the warm ones, and for steps still waiting). The
   * wait doubles per failure up to 30 s (or this value, if larger) and
   * resets once one starts. Default 1 s.
   */
  startRetryMs?: number;
  /**
   * Longest a step may wait for a process (queued behind others, or while
   * one starts) before it fails with `timeout` (`details.queued: true`).
   * The step's own deadline counts from when it reaches a process, so a
   * guest's time budget is never spent waiting. Default 60 s.
   */
  maxQueueWaitMs?: number;
  /** Compiled modules kept per process (least recently used are dropped). Default 32. */
  modulesPerProcess?: number;
  /**
   * `deno.json` whose import map resolves the plugins' imports. Default:
   * this package's `deno.json` (when loaded from a file).
   */
  config?: string;
  /** Working directory of the processes. Default: the directory of `config`. */
  cwd?: string;
  /**
   * util-linux `setpriv`, used to start each process with `--pdeathsig KILL`
   * (the kernel kills it if the broker dies, even by SIGKILL, so a spinning
   * guest cannot outlive its broker) and `--no-new-privs`. Default:
   * `/usr/bin/setpriv` when it exists; `false` starts `deno` directly.
   */
  setpriv?: string | false;
  /**
   * Extra environment for the processes, which otherwise get only `HOME`,
   * `DENO_DIR` and `XDG_CACHE_HOME` (so Deno finds its cache). Never put
   * secrets here: a guest that escapes V8 can read its process's environment.
   */
  env?: Record<string, string>;
  /** Bytes of each process's stderr passed to `onLog`. Default 64 KiB. */
  stderrLogBytes?: number;
  /** Largest frame accepted from a process. Default 512 MiB. */
  maxFrameBytes?: number;
  /** Where process events go (stderr lines, crashes, kills). Default: `console.error`. */
  onLog?: (event: SandboxLogEvent) => void;
  /**
   * Called when a process ends, with why (`cause`: killed on purpose, crashed,
   * never started; `reason`: a code such as `timeout`, `idle`, `close`,
   * `exit`, `protocol`). For metrics: a restart is any exit but `idle`/`close`.
   */
  onExit?: (exit: { cause: SandboxExit["cause"]; reason: string; profile: string }) => void;
}

/** A snapshot of one process, for tests and the admin API. */
export interface SandboxProcessInfo {
  pid: number;
  profile: string;
  state: "starting" | "ready" | "dead";
  steps: number;
  modules: number;
}

/** A step from `execute()` until its outcome. */
interface StepRecord {
  request: ExecuteRequest;
  onBrokerCall: BrokerCallHandler;
  profile: SandboxProfile;
  moduleKey: string;
  /** When execute() was called (`performance.now()`). */
  started: number;
  /** Deadline for the sandbox's own abort signal (ms since the epoch). */
  wallDeadline: number;
  /** Runs dispatched so far (a step is run at most twice). */
  attempts: number;
  /** A re-run: it runs alone in its process. */
  exclusive: boolean;
  process: SandboxProcess<StepRecord> | null;
  runId: number;
  dispatchedAt: number;
  timers: Timer[];
  settled: boolean;
  resolve(outcome: StepOutcome): void;
}

type Timer = ReturnType<typeof setTimeout>;

/** How long a timed-out step waits for its killed process to be reaped. */
const REAP_WAIT_MS = 2000;

/**
 * Longest wait between attempts to start processes of a profile that keep failing: a
 * broken setup is retried, never respawned in a loop (see `startRetryMs`).
 */
const START_RETRY_MAX_MS = 30_000;

/** The last failed start of a profile's process, until one starts. */
interface StartFailure {
  message: string;
  /** The back-off after it. */
  delayMs: number;
  /** No new process of the profile before this (`performance.now()`) while one lives. */
  until: number;
}

const ENV_PASSED = ["HOME", "DENO_DIR", "XDG_CACHE_HOME"];

const DEFAULT_SETPRIV = "/usr/bin/setpriv";

/**
 * Runs steps in sandbox processes. Close it when done: it owns processes.
 *
 * @example
 * ```ts
 * import { ioPlugin } from "../../plugins/io/mod.ts";
 * import { Runtime } from "../runtime/runtime.ts";
 * import { SandboxPool } from "./sandbox_pool.ts";
 *
 * const runtime = new Runtime({
 *   plugins: [ioPlugin()],
 *   executor: (registry) => new SandboxPool({ registry, maxProcesses: 1 }),
 * });
 * // (module (import "io" "write_output" ...) (memory 1) (data (i32.const 0) "1")
 * //   (func (export "run") (result i32) ... writes "1" ... (i32.const 0)))
 * const wasm = Uint8Array.from(
 *   atob(
 *     "AGFzbQEAAAABCwJgAn9/AX9gAAF/AhMBAmlvDHdyaXRlX291dHB1dAAAAwIBAQUDAQABBxACBm1lbW9yeQIAA3J1bgAB" +
 *       "Cg0BCwBBAEEBEAAaQQALCwcBAEEACwEx",
 *   ),
 *   (c) => c.charCodeAt(0),
 * );
 * try {
 *   const guest = await runtime.load(wasm, { capabilities: { io: {} } });
 *   const outcome = await runtime.execute(guest, {}, { timeoutMs: 5000 });
 *   console.assert(outcome.status === "completed" && outcome.result === 1);
 * } finally {
 *   await runtime.close(); // kills the sandbox processes
 * }
 * ```
 */
export class SandboxPool implements StepExecutor {
  readonly #registry: CapabilityRegistry;
  readonly #prewarm: number;
  readonly #maxProcesses: number;
  readonly #stepsPerProcess: number;
  readonly #idleMs: number;
  readonly #killGraceMs: number;
  readonly #startTimeoutMs: number;
  readonly #startRetryMs: number;
  readonly #maxQueueWaitMs: number;
  readonly #modulesPerProcess: number;
  readonly #config: string | undefined;
  readonly #cwd: string | undefined;
  readonly #launcher: readonly string[];
  readonly #env: Record<string, string>;
  readonly #stderrLogBytes: number;
  readonly #maxFrameBytes: number;
  readonly #onLog: (event: SandboxLogEvent) => void;
  readonly #onExitHook: SandboxPoolOptions["onExit"];
  readonly #defaultProfile: SandboxProfile;

  #started = false;
  #closed = false;
  #entry = "";
  #plugins: PluginSource[] = [];
  #pluginNames = new Set<string>();
  readonly #processes: SandboxProcess<StepRecord>[] = [];
  readonly #unreaped = new Set<SandboxProcess<StepRecord>>();
  readonly #queue: StepRecord[] = [];
  readonly #profiles = new WeakMap<Manifest, SandboxProfile>();
  #runSeq = 0;
  #reaper: Timer | undefined;
  #warmWaiters: { resolve(): void; reject(error: Error): void }[] = [];
  /** Warm once at least (see {@link health}). */
  #warmedOnce = false;
  /** By profile key. */
  readonly #startFailures = new Map<string, StartFailure>();
  /** By profile key: the next attempt after a failed start. */
  readonly #startRetries = new Map<string, Timer>();
  /** Processes that were given a step. */
  readonly #tookSteps = new WeakSet<SandboxProcess<StepRecord>>();
  #pumping = false;
  #pumpAgain = false;

  constructor(options: SandboxPoolOptions) {
    this.#registry = options.registry;
    this.#maxProcesses = positive("maxProcesses", options.maxProcesses) ??
      Math.max(2, navigator.hardwareConcurrency ?? 2);
    this.#prewarm = Math.min(
      nonNegative("prewarm", options.prewarm) ?? 1,
      this.#maxProcesses,
    );
    this.#stepsPerProcess = positive("stepsPerProcess", options.stepsPerProcess) ?? 1;
    this.#idleMs = positive("idleMs", options.idleMs) ?? 30_000;
    this.#killGraceMs = nonNegative("killGraceMs", options.killGraceMs) ?? 25;
    this.#startTimeoutMs = positive("startTimeoutMs", options.startTimeoutMs) ?? 30_000;
    this.#startRetryMs = positive("startRetryMs", options.startRetryMs) ?? 1000;
    this.#maxQueueWaitMs = positive("maxQueueWaitMs", options.maxQueueWaitMs) ?? 60_000;
    this.#modulesPerProcess = positive("modulesPerProcess", options.modulesPerProcess) ?? 32;
    this.#stderrLogBytes = nonNegative("stderrLogBytes", options.stderrLogBytes) ?? 64 * 1024;
    this.#maxFrameBytes = positive("maxFrameBytes", options.maxFrameBytes) ?? 512 * 1024 * 1024;
    this.#config = options.config ?? defaultConfig();
    this.#cwd = options.cwd ?? (this.#config ? dirname(this.#config) : undefined);
    const setpriv = options.setpriv ?? (exists(DEFAULT_SETPRIV) ? DEFAULT_SETPRIV : false);
    this.#launcher = setpriv ? [setpriv, "--pdeathsig", "KILL", "--no-new-privs", "--"] : [];
    this.#env = { ...inheritedEnv(), NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...options.env };
    this.#onLog = options.onLog ?? defaultLog;
    this.#onExitHook = options.onExit;
    this.#defaultProfile = sandboxProfile([], this.#registry);
  }

  /**
   * Resolves once `prewarm` default-profile processes are ready; rejects
   * with `sandbox_crashed` if one cannot start (calling it again retries).
   */
  ready(): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new WasmBrokerError("sandbox_crashed", "Cannot warm up a closed pool"));
    }
    const warm = new Promise<void>((resolve, reject) => {
      this.#warmWaiters.push({ resolve, reject });
    });
    if (this.#started) this.#topUp({ now: true });
    else this.#start();
    this.#checkWarm();
    return warm;
  }

  /**
   * Whether the pool can take steps now, for a readiness probe: not until
   * it was warm once, nor while it has fewer than `prewarm` ready
   * default-profile processes and the last one it started failed to start
   * (tried again after `startRetryMs`, and by `ready()`). Busy processes, or
   * one beyond `prewarm` that could not start, do not make it unhealthy.
   */
  health(): { ok: true } | { ok: false; message: string } {
    if (this.#closed) return { ok: false, message: "closed" };
    const failure = this.#startFailures.get(this.#defaultProfile.key);
    if (failure && !this.#warm()) {
      return { ok: false, message: `the last sandbox process failed to start: ${failure.message}` };
    }
    return this.#warmedOnce ? { ok: true } : { ok: false, message: "starting" };
  }

  /** Runs one step in a sandbox process; guest failures are failed outcomes, never rejections. */
  execute(request: ExecuteRequest, onBrokerCall: BrokerCallHandler): Promise<StepOutcome> {
    if (!Number.isFinite(request.timeoutMs) || request.timeoutMs <= 0) {
      return Promise.reject(
        new RangeError(
          `Cannot execute step as timeoutMs must be a positive number: current value is ${request.timeoutMs}`,
        ),
      );
    }
    if (this.#closed) {
      return Promise.resolve(failure("sandbox_crashed", "Cannot run step as the pool is closed", {
        reason: "closed",
        started: false,
      }));
    }
    this.#start();
    let profile: SandboxProfile;
    try {
      profile = this.#profileOf(request.guest.manifest);
    } catch (thrown) {
      return Promise.resolve(failed(errorFromThrown(thrown)));
    }
    return new Promise((resolve) => {
      const now = performance.now();
      const step: StepRecord = {
        request,
        onBrokerCall,
        profile,
        // The prepared guest depends on the bytes and the manifest: `id` covers both.
        moduleKey: request.guest.id,
        started: now,
        wallDeadline: Date.now() + request.timeoutMs,
        attempts: 0,
        exclusive: false,
        process: null,
        runId: 0,
        dispatchedAt: 0,
        timers: [],
        settled: false,
        resolve,
      };
      step.timers.push(setTimeout(() => this.#onDeadline(step), this.#maxQueueWaitMs));
      this.#queue.push(step);
      this.#pump();
    });
  }

  /**
   * Kills every process and fails queued and running steps with
   * `sandbox_crashed`, `details.reason` `"closed"` and `details.started`:
   * whether a process ever took the step (false for one that only waited).
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#reaper);
    for (const timer of this.#startRetries.values()) clearTimeout(timer);
    const closed = { reason: "closed" };
    for (const step of this.#queue.splice(0)) {
      // `started`: whether its guest was ever handed to a process (a queued re-run was); a
      // caller may hand a step that never started back rather than fail it.
      this.#settle(
        step,
        failure("sandbox_crashed", "Cannot finish step as the pool closed", {
          ...closed,
          started: step.attempts > 0,
        }),
      );
    }
    for (const process of [...this.#processes]) {
      for (const step of process.steps.values()) {
        this.#settle(
          step,
          failure("sandbox_crashed", "Cannot finish step as the pool closed", {
            ...closed,
            started: true,
            pid: process.pid,
          }),
        );
      }
      process.steps.clear();
      this.#retire(process, "close");
    }
    for (const waiter of this.#warmWaiters.splice(0)) {
      waiter.reject(new WasmBrokerError("sandbox_crashed", "Cannot warm up as the pool closed"));
    }
    await Promise.all([...this.#unreaped].map((p) => p.exited));
  }

  /** The live processes (starting or ready). */
  processes(): SandboxProcessInfo[] {
    return this.#processes.map((p) => ({
      pid: p.pid,
      profile: p.profile.key,
      state: p.state,
      steps: p.steps.size,
      modules: p.modules.size,
    }));
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const plugin of this.#registry) {
      if (!plugin.source) continue;
      this.#plugins.push(plugin.source);
      this.#pluginNames.add(plugin.name);
    }
    this.#entry = sandboxEntry(this.#plugins.map((p) => p.module));
    this.#topUp();
    this.#reaper = setInterval(() => this.#reapIdle(), Math.min(this.#idleMs, 5000));
    Deno.unrefTimer(this.#reaper);
  }

  #profileOf(manifest: Manifest): SandboxProfile {
    let profile = this.#profiles.get(manifest);
    if (profile) return profile;
    for (const name of Object.keys(manifest.capabilities)) {
      if (!this.#pluginNames.has(name)) {
        throw new WasmBrokerError(
          "internal",
          `Cannot run step in a sandbox as capability plugin "${name}" has no source to re-create it from (or was registered after the pool started)`,
          { details: { capability: name } },
        );
      }
    }
    profile = sandboxProfile([manifest], this.#registry);
    this.#profiles.set(manifest, profile);
    return profile;
  }

  // ---- scheduling -------------------------------------------------------

  #pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        this.#pumpOnce();
      } while (this.#pumpAgain);
    } finally {
      this.#pumping = false;
    }
  }

  #pumpOnce(): void {
    if (this.#closed) return;
    for (let i = 0; i < this.#queue.length;) {
      const step = this.#queue[i];
      const process = this.#pick(step);
      if (!process) {
        i++;
        continue;
      }
      this.#queue.splice(i, 1);
      this.#dispatch(step, process);
    }
    // Start processes for what is still waiting, beyond what is already starting (after a
    // failed start, not while a process of the profile lives that can take them later).
    const demand = new Map<string, { profile: SandboxProfile; slots: number }>();
    for (const step of this.#queue) {
      const entry = demand.get(step.profile.key) ?? { profile: step.profile, slots: 0 };
      entry.slots += step.exclusive ? this.#stepsPerProcess : 1;
      demand.set(step.profile.key, entry);
    }
    for (const [key, { profile, slots }] of demand) {
      if (this.#backingOff(key) && this.#processes.some((p) => p.profile.key === key)) continue;
      const starting = this.#processes.filter((p) =>
        p.profile.key === key && p.state === "starting"
      ).length;
      let needed = Math.ceil(
        Math.max(0, slots - starting * this.#stepsPerProcess) /
          this.#stepsPerProcess,
      );
      // Until one of a profile that failed starts again, one attempt at a time.
      if (this.#startFailures.has(key)) needed = starting > 0 ? 0 : Math.min(needed, 1);
      while (needed-- > 0 && this.#makeRoom() && this.#spawn(profile));
    }
  }

  #pick(step: StepRecord): SandboxProcess<StepRecord> | null {
    let best: SandboxProcess<StepRecord> | null = null;
    let bestScore = -Infinity;
    for (const process of this.#processes) {
      if (process.profile.key !== step.profile.key || process.state !== "ready") continue;
      if (process.exclusive) continue;
      const load = process.steps.size;
      if (step.exclusive ? load > 0 : load >= this.#stepsPerProcess) continue;
      // Prefer a process that has the module compiled, then the least loaded one.
      const score = (process.modules.has(step.moduleKey) ? 1000 : 0) - load;
      if (score > bestScore) {
        best = process;
        bestScore = score;
      }
    }
    return best;
  }

  #dispatch(step: StepRecord, process: SandboxProcess<StepRecord>): void {
    const now = performance.now();
    // The deadline starts here: time spent queued or waiting for a process to
    // start is not the guest's (it has its own bound, maxQueueWaitMs).
    for (const timer of step.timers) clearTimeout(timer);
    step.timers = [setTimeout(() => this.#onDeadline(step), step.request.timeoutMs)];
    step.wallDeadline = Date.now() + step.request.timeoutMs;
    step.process = process;
    step.runId = ++this.#runSeq;
    step.attempts++;
    step.dispatchedAt = now;
    process.steps.set(step.runId, step);
    this.#tookSteps.add(process);
    process.lastActive = now;
    if (step.exclusive) process.exclusive = true;
    const { guest } = step.request;
    if (process.modules.has(step.moduleKey)) {
      process.modules.delete(step.moduleKey); // refresh its LRU position
    } else {
      if (process.modules.size >= this.#modulesPerProcess) {
        const oldest = process.modules.keys().next().value!;
        process.modules.delete(oldest);
        process.send({ t: "unload", digest: oldest });
      }
      process.send({
        t: "load",
        digest: step.moduleKey,
        name: guest.name,
        manifest: guest.manifest,
      }, guest.bytes);
    }
    process.modules.set(step.moduleKey, true);
    process.send({
      t: "run",
      id: step.runId,
      digest: step.moduleKey,
      step: step.request.step,
      data: step.request.data,
      ...(step.request.clock ? { clock: step.request.clock } : {}),
      deadline: step.wallDeadline,
      ...(step.request.timeHostCalls ? { time_host_calls: true } : {}),
    }, step.request.input);
  }

  /** True when there is room for one more process (evicting an idle one if needed). */
  #makeRoom(): boolean {
    if (this.#processes.length < this.#maxProcesses) return true;
    let victim: SandboxProcess<StepRecord> | null = null;
    for (const process of this.#processes) {
      if (process.state !== "ready" || process.steps.size > 0) continue;
      if (!victim || process.lastActive < victim.lastActive) victim = process;
    }
    if (!victim) return false;
    this.#retire(victim, "evict");
    return true;
  }

  /** Starts a process; false (and the profile's waiting steps failed) when spawning throws. */
  #spawn(profile: SandboxProfile): boolean {
    let process: SandboxProcess<StepRecord>;
    try {
      process = this.#newProcess(profile);
    } catch (error) {
      // E.g. no --allow-run for the deno binary, or no such executable.
      const message = `${(error as Error).name}: ${(error as Error).message}`;
      this.#onLog({
        level: "error",
        message: `cannot spawn: ${message}`,
        pid: 0,
        profile: profile.key,
      });
      this.#onStartFailed(profile.key, message, { reason: "spawn_failed" });
      return false;
    }
    this.#processes.push(process);
    this.#unreaped.add(process); // until it exits: close() awaits every process ever spawned
    return true;
  }

  #newProcess(profile: SandboxProfile): SandboxProcess<StepRecord> {
    return new SandboxProcess<StepRecord>({
      entry: this.#entry,
      profile,
      plugins: this.#plugins,
      config: this.#config,
      cwd: this.#cwd,
      launcher: this.#launcher,
      env: this.#env,
      startTimeoutMs: this.#startTimeoutMs,
      stderrLogBytes: this.#stderrLogBytes,
      maxFrameBytes: this.#maxFrameBytes,
      onLog: this.#onLog,
      events: {
        ready: (p) => this.#onReady(p),
        done: (p, message, payload) => this.#onDone(p, message, payload),
        call: (p, message, payload) => this.#onCall(p, message, payload),
        exit: (p, exit) => this.#onExit(p, exit),
      },
    });
  }

  /**
   * Keeps `prewarm` default-profile processes alive; after a failed start,
   * only once its back-off is over unless `now` (an explicit `ready()`).
   */
  #topUp(options: { now?: boolean } = {}): void {
    const key = this.#defaultProfile.key;
    if (this.#closed || (!options.now && this.#backingOff(key))) return;
    let count = this.#processes.filter((p) => p.profile.key === key).length;
    while (count < this.#prewarm && this.#processes.length < this.#maxProcesses) {
      if (!this.#spawn(this.#defaultProfile)) return;
      count++;
    }
  }

  #warm(): boolean {
    const key = this.#defaultProfile.key;
    const ready = this.#processes.filter((p) => p.profile.key === key && p.state === "ready");
    return ready.length >= this.#prewarm;
  }

  /** Removes a process from service and kills it; its other steps are re-run. */
  #retire(process: SandboxProcess<StepRecord>, reason: string): void {
    const index = this.#processes.indexOf(process);
    if (index >= 0) this.#processes.splice(index, 1);
    process.kill(reason);
    const lost = [...process.steps.values()];
    process.steps.clear();
    for (const step of lost) this.#rerun(step, process, reason);
  }

  /** Runs a step that lost its process once more, alone; a second loss fails it. */
  #rerun(step: StepRecord, process: SandboxProcess<StepRecord>, reason: string): void {
    if (step.settled) return;
    step.process = null;
    if (step.attempts >= 2 || this.#closed) {
      this.#settle(
        step,
        failure(
          "sandbox_crashed",
          `Cannot finish step as its sandbox process was lost twice (last: ${reason})`,
          { pid: process.pid, reason, attempts: step.attempts },
        ),
      );
      return;
    }
    step.exclusive = true;
    this.#queue.unshift(step);
  }

  #reapIdle(): void {
    const now = performance.now();
    const key = this.#defaultProfile.key;
    for (const process of [...this.#processes]) {
      if (process.state !== "ready" || process.steps.size > 0) continue;
      if (now - process.lastActive < this.#idleMs) continue;
      const warm = process.profile.key === key &&
        this.#processes.filter((p) => p.profile.key === key).length <= this.#prewarm;
      if (!warm) this.#retire(process, "idle");
    }
  }

  // ---- deadlines --------------------------------------------------------

  #onDeadline(step: StepRecord): void {
    if (step.settled) return;
    if (!step.process) {
      const index = this.#queue.indexOf(step);
      if (index >= 0) this.#queue.splice(index, 1);
      this.#settle(step, this.#timeoutOutcome(step, { queued: true }));
      return;
    }
    if (this.#killGraceMs === 0) return this.#killForTimeout(step);
    step.timers.push(setTimeout(() => this.#killForTimeout(step), this.#killGraceMs));
  }

  #killForTimeout(step: StepRecord): void {
    const process = step.process;
    if (step.settled || !process) return;
    process.steps.delete(step.runId);
    step.settled = true; // nothing from the process counts any more
    for (const timer of step.timers) clearTimeout(timer);
    const outcome = this.#timeoutOutcome(step, { killed: true, pid: process.pid });
    this.#onLog({
      level: "warn",
      message: `killed: step ${step.request.step.stepId} ran past ${step.request.timeoutMs} ms`,
      pid: process.pid,
      profile: process.profile.key,
    });
    this.#retire(process, "timeout");
    this.#pump();
    // Report only once the guest has really stopped (SIGKILL takes a few ms).
    let reapTimer: Timer | undefined;
    const reaped = new Promise<void>((resolve) => {
      reapTimer = setTimeout(resolve, REAP_WAIT_MS);
    });
    Promise.race([process.exited, reaped]).then(() => {
      clearTimeout(reapTimer);
      step.resolve(outcome);
    });
  }

  #timeoutOutcome(step: StepRecord, details: Record<string, unknown>): StepOutcome {
    const now = performance.now();
    const queued = !step.process;
    const outcome = failure(
      "timeout",
      queued
        ? `Cannot start step as no sandbox process took it within ${this.#maxQueueWaitMs} ms`
        : `Cannot finish step as it ran past its deadline of ${step.request.timeoutMs} ms`,
      {
        timeout_ms: step.request.timeoutMs,
        elapsed_ms: Math.round(now - step.started),
        ...details,
      },
    );
    if (step.process) outcome.metrics.run_ms = now - step.dispatchedAt;
    return outcome;
  }

  #settle(step: StepRecord, outcome: StepOutcome): void {
    if (step.settled) return;
    step.settled = true;
    for (const timer of step.timers) clearTimeout(timer);
    step.resolve(outcome);
  }

  // ---- process events ---------------------------------------------------

  #onReady(process: SandboxProcess<StepRecord>): void {
    this.#startFailures.delete(process.profile.key);
    this.#checkWarm();
    this.#pump();
  }

  #checkWarm(): void {
    if (!this.#warm()) return;
    this.#warmedOnce = true;
    for (const waiter of this.#warmWaiters.splice(0)) waiter.resolve();
  }

  #backingOff(key: string): boolean {
    const failure = this.#startFailures.get(key);
    return failure !== undefined && performance.now() < failure.until;
  }

  /** After a failed start of profile `key`, tries again once its (latest) back-off is over. */
  #retryStartLater(key: string, delayMs: number): void {
    clearTimeout(this.#startRetries.get(key));
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#startRetries.delete(key);
      if (key === this.#defaultProfile.key && !this.#warm()) {
        this.#topUp();
        const starting = this.#processes.some((p) =>
          p.profile.key === key && p.state === "starting"
        );
        // No room (processes of other profiles fill maxProcesses): look again later.
        if (!starting && this.#startFailures.has(key) && !this.#startRetries.has(key)) {
          this.#retryStartLater(key, delayMs);
        }
      }
      this.#pump(); // steps still waiting for the profile
    }, delayMs);
    Deno.unrefTimer(timer);
    this.#startRetries.set(key, timer);
  }

  #onDone(process: SandboxProcess<StepRecord>, message: DoneMessage, payload: Uint8Array): void {
    const step = process.steps.get(message.id);
    if (!step) throw new ProtocolError(`done: no step with run id ${message.id}`);
    const outcome = readOutcome(message, payload);
    process.steps.delete(message.id);
    process.lastActive = performance.now();
    if (process.steps.size === 0) process.exclusive = false;
    this.#settle(step, outcome);
    this.#pump();
  }

  #onCall(process: SandboxProcess<StepRecord>, message: CallMessage, payload: Uint8Array): void {
    let request: unknown;
    try {
      request = parseJsonPayload(payload);
    } catch (error) {
      throw new ProtocolError(`call: payload is not JSON: ${(error as Error).message}`);
    }
    const step = process.steps.get(message.run);
    const answer = step
      ? Promise.resolve().then(() => step.onBrokerCall(message.capability, message.op, request))
      : Promise.reject(
        new WasmBrokerError("internal", "Cannot call the broker as the step has finished"),
      );
    answer.then(
      (value) => {
        let bytes: Uint8Array;
        try {
          bytes = jsonPayload(value);
        } catch (error) {
          process.send({
            t: "reply",
            id: message.id,
            ok: false,
            code: "internal",
            message: `Cannot send the broker's answer as it is not JSON: ${
              (error as Error).message
            }`,
          });
          return;
        }
        process.send({ t: "reply", id: message.id, ok: true }, bytes);
      },
      (error: unknown) =>
        process.send({
          t: "reply",
          id: message.id,
          ok: false,
          code: error instanceof WasmBrokerError ? error.code : "internal",
          message: String((error as Error)?.message ?? error),
        }),
    );
  }

  #onExit(process: SandboxProcess<StepRecord>, exit: SandboxExit): void {
    this.#unreaped.delete(process);
    try {
      this.#onExitHook?.({
        cause: exit.cause,
        reason: exit.reason,
        profile: process.profile.key,
      });
    } catch {
      // An observer must not break process bookkeeping.
    }
    const index = this.#processes.indexOf(process);
    if (index >= 0) this.#processes.splice(index, 1);
    const lost = [...process.steps.values()];
    process.steps.clear();
    if (exit.cause === "killed") {
      for (const step of lost) this.#rerun(step, process, exit.reason);
      this.#topUp();
      this.#pump();
      return;
    }
    this.#onLog({
      level: "error",
      message: `${exit.cause === "start_failed" ? "failed to start" : "crashed"} (${exit.reason}${
        exit.code !== null ? `, exit code ${exit.code}` : ""
      }${exit.signal ? `, signal ${exit.signal}` : ""})${exit.message ? `: ${exit.message}` : ""}${
        exit.stderrTail ? `\n${exit.stderrTail.trimEnd()}` : ""
      }`,
      pid: process.pid,
      profile: process.profile.key,
    });
    const details = {
      pid: process.pid,
      reason: exit.reason,
      exit_code: exit.code,
      signal: exit.signal,
    };
    if (exit.cause === "start_failed") {
      const tail = exit.stderrTail.trim().slice(-1000);
      this.#onStartFailed(
        process.profile.key,
        [exit.message, tail].filter(Boolean).join("\n") || "no output",
        details,
      );
      this.#pump();
      return;
    }
    if (!this.#tookSteps.has(process)) {
      // Died before its first step (a plugin that fails once loaded, say): a failed start for
      // the back-off, or it would be replaced at once, again and again.
      this.#onStartFailed(
        process.profile.key,
        `crashed before its first step (${exit.reason}${
          exit.code !== null ? `, exit code ${exit.code}` : ""
        }${exit.signal ? `, signal ${exit.signal}` : ""})`,
        details,
      );
      this.#pump();
      return;
    }
    if (lost.length === 1) {
      // The only step running there is the only suspect.
      this.#settle(
        lost[0],
        failure("sandbox_crashed", "Cannot finish step as its sandbox process crashed", details),
      );
    } else {
      for (const step of lost) this.#rerun(step, process, "crashed");
    }
    this.#topUp();
    this.#pump();
  }

  /** A process of profile `key` could not start: fail who waits for one. */
  #onStartFailed(key: string, message: string, details: Record<string, unknown>): void {
    const previous = this.#startFailures.get(key);
    const first = this.#startRetryMs;
    const delayMs = Math.min(
      previous ? previous.delayMs * 2 : first,
      Math.max(first, START_RETRY_MAX_MS),
    );
    this.#startFailures.set(key, { message, delayMs, until: performance.now() + delayMs });
    this.#retryStartLater(key, delayMs);
    if (key === this.#defaultProfile.key && this.#warmWaiters.length) {
      const error = new WasmBrokerError(
        "sandbox_crashed",
        `Cannot start a sandbox process as it exited before it was ready: ${message}`,
        { details },
      );
      for (const waiter of this.#warmWaiters.splice(0)) waiter.reject(error);
    }
    // Steps waiting for this profile fail unless another process of it may still serve them;
    // not retrying here (nor before the back-off is over) keeps a broken setup from
    // respawning in a loop.
    if (this.#processes.some((p) => p.profile.key === key)) return;
    for (let i = 0; i < this.#queue.length;) {
      const step = this.#queue[i];
      if (step.profile.key !== key) {
        i++;
        continue;
      }
      this.#queue.splice(i, 1);
      this.#settle(
        step,
        failure(
          "sandbox_crashed",
          "Cannot run step as its sandbox process failed to start",
          details,
        ),
      );
    }
  }
}

function failure(
  code: ErrorCode,
  message: string,
  details: Record<string, unknown>,
): StepOutcome {
  return failed({
    code,
    message,
    retryable: code === "timeout" || code === "sandbox_crashed",
    details,
  });
}

function failed(error: StepOutcome["error"]): StepOutcome {
  return { status: "failed", result: null, error, metrics: emptyMetrics(), logs: [] };
}

function positive(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(
      `Cannot create sandbox pool as ${name} must be a positive number: current value is ${value}`,
    );
  }
  return value;
}

function nonNegative(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(
      `Cannot create sandbox pool as ${name} must be zero or more: current value is ${value}`,
    );
  }
  return value;
}

function defaultConfig(): string | undefined {
  const url = new URL("../../deno.json", import.meta.url);
  return url.protocol === "file:" ? decodeURIComponent(url.pathname) : undefined;
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function dirname(path: string): string {
  const index = path.lastIndexOf("/");
  return index <= 0 ? "/" : path.slice(0, index);
}

function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ENV_PASSED) {
    try {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    } catch {
      // No --allow-env for it: the child falls back to Deno's defaults.
    }
  }
  return env;
}

function defaultLog(event: SandboxLogEvent): void {
  console.error(`[sandbox ${event.pid} ${event.level}] ${event.message}`);
}
