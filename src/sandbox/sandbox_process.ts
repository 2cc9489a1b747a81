/**
 * One sandbox process seen from the broker: spawns `deno run` with the
 * profile's flags and a scrubbed environment, frames messages to its stdin,
 * decodes its stdout, keeps a bounded tail of its stderr, and reports how
 * it ended. Scheduling (which step goes where, what a death means for the
 * steps it ran) is the pool's job.
 *
 * @module
 */
import { dirname, join } from "node:path";
import type { PluginSource } from "../capability/capability_plugin.ts";
import { encodeFrame, type Frame, FrameDecoder } from "./frame_codec.ts";
import { sandboxFlags } from "./sandbox_flags.ts";
import type { SandboxProfile } from "./sandbox_profile.ts";
import {
  type CallMessage,
  type DoneMessage,
  type FromSandbox,
  ProtocolError,
  type ToSandbox,
} from "./sandbox_protocol.ts";

/** How a sandbox process ended. */
export interface SandboxExit {
  /**
   * `killed`: the broker killed it on purpose (deadline, idle, close);
   * `crashed`: it died by itself after starting, or broke the protocol;
   * `start_failed`: it never became ready.
   */
  cause: "killed" | "crashed" | "start_failed";
  /** Why: the broker's kill reason, `exit`, `protocol`, `start_timeout` or `fatal`. */
  reason: string;
  code: number | null;
  signal: string | null;
  /** Last bytes the process wrote to stderr. */
  stderrTail: string;
  /** A message the process itself sent before dying (`fatal` or protocol error). */
  message?: string;
}

/** A log event about a sandbox process (its stderr, its death). */
export interface SandboxLogEvent {
  level: "info" | "warn" | "error";
  message: string;
  pid: number;
  profile: string;
}

/** What the process reports to its owner. */
export interface SandboxProcessEvents<S> {
  ready(process: SandboxProcess<S>): void;
  done(process: SandboxProcess<S>, message: DoneMessage, payload: Uint8Array): void;
  call(process: SandboxProcess<S>, message: CallMessage, payload: Uint8Array): void;
  exit(process: SandboxProcess<S>, exit: SandboxExit): void;
}

/** Options for {@link SandboxProcess}. */
export interface SandboxProcessOptions<S> {
  /** Entry module URL (see `sandboxEntry`). */
  entry: string;
  profile: SandboxProfile;
  /** Plugins the process re-creates (sent in the `init` frame). */
  plugins: readonly PluginSource[];
  /** `deno.json` for the import map. */
  config?: string;
  /** Working directory of the child. */
  cwd?: string;
  /**
   * A program and its arguments that exec `deno` (e.g. util-linux `setpriv`
   * with `--pdeathsig KILL`); the pid stays the process's own.
   */
  launcher?: readonly string[];
  /** The child's whole environment (nothing else is inherited). */
  env: Record<string, string>;
  /** Kill a process that is not ready after this many ms. */
  startTimeoutMs: number;
  /** Bytes of stderr forwarded to `onLog` over the process's life; the rest is counted. */
  stderrLogBytes: number;
  /** Largest frame accepted from the child, in bytes. */
  maxFrameBytes: number;
  onLog(event: SandboxLogEvent): void;
  events: SandboxProcessEvents<S>;
}

const STDERR_TAIL_CHARS = 4096;

/**
 * A spawned sandbox. `S` is the owner's record of a step running in it.
 *
 * @example
 * ```ts ignore
 * const process = new SandboxProcess({ entry, profile, plugins, env: {}, ...limits, onLog, events });
 * await process.exited; // after process.kill("close")
 * ```
 */
export class SandboxProcess<S> {
  readonly pid: number;
  readonly profile: SandboxProfile;
  /** Steps running here, by run id (managed by the owner). */
  readonly steps: Map<number, S> = new Map();
  /** Digests of modules loaded here, least recently used first (managed by the owner). */
  readonly modules: Map<string, true> = new Map();
  /** When a step last started or finished here (`performance.now()`). */
  lastActive: number = performance.now();
  /** True while a re-run step runs here alone. */
  exclusive = false;
  /** Resolves once the process is gone and its pipes are drained. */
  readonly exited: Promise<SandboxExit>;
  #state: "starting" | "ready" | "dead" = "starting";
  #killedFor: string | null = null;
  #crash: { reason: string; message: string } | null = null;
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #options: SandboxProcessOptions<S>;
  readonly #startTimer: ReturnType<typeof setTimeout>;
  #stderrTail = "";
  #wasReady = false;

  constructor(options: SandboxProcessOptions<S>) {
    this.#options = options;
    this.profile = options.profile;
    const deno = [
      Deno.execPath(),
      "run",
      ...sandboxFlags(options.profile, {
        config: options.config,
        lockfile: options.config !== undefined &&
          isFile(join(dirname(options.config), "deno.lock")),
      }),
      options.entry,
    ];
    const [program, ...args] = [...(options.launcher ?? []), ...deno];
    this.#child = new Deno.Command(program, {
      args,
      cwd: options.cwd,
      clearEnv: true,
      env: options.env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.pid = this.#child.pid;
    this.#writer = this.#child.stdin.getWriter();
    this.#startTimer = setTimeout(() => {
      if (this.#state === "starting") this.#fail("start_timeout", "not ready in time");
    }, options.startTimeoutMs);
    this.send({ t: "init", plugins: [...options.plugins] });
    this.exited = this.#watch();
  }

  /** `starting` until the `ready` frame, `dead` once killed or exited. */
  get state(): "starting" | "ready" | "dead" {
    return this.#state;
  }

  /** Sends one message; a write to a dead process is dropped. */
  send(message: ToSandbox, payload?: Uint8Array): void {
    if (this.#state === "dead") return;
    for (const chunk of encodeFrame(message, payload)) {
      // Not awaited: the stream keeps order; a dead pipe is reported by `exited`.
      this.#writer.write(chunk).catch(() => {});
    }
  }

  /** SIGKILLs the process (idempotent); `reason` ends up in {@link SandboxExit.reason}. */
  kill(reason: string): void {
    if (this.#killedFor !== null || this.#crash !== null) return;
    this.#killedFor = reason;
    this.#terminate();
  }

  #fail(reason: string, message: string): void {
    if (this.#killedFor !== null || this.#crash !== null) return;
    this.#crash = { reason, message };
    this.#terminate();
  }

  #terminate(): void {
    this.#state = "dead";
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already exited: `exited` reports it.
    }
  }

  async #watch(): Promise<SandboxExit> {
    const stdout = this.#readStdout();
    const stderr = this.#readStderr();
    const status = await this.#child.status;
    this.#state = "dead";
    clearTimeout(this.#startTimer);
    await Promise.allSettled([stdout, stderr, this.#writer.abort()]);
    const exit: SandboxExit = {
      cause: this.#killedFor !== null ? "killed" : this.#wasReady ? "crashed" : "start_failed",
      reason: this.#killedFor ?? this.#crash?.reason ?? "exit",
      code: status.signal ? null : status.code,
      signal: status.signal,
      stderrTail: this.#stderrTail,
      ...(this.#crash?.message ? { message: this.#crash.message } : {}),
    };
    this.#options.events.exit(this, exit);
    return exit;
  }

  async #readStdout(): Promise<void> {
    const decoder = new FrameDecoder({
      maxHeaderBytes: this.#options.maxFrameBytes,
      maxPayloadBytes: this.#options.maxFrameBytes,
    });
    const reader = this.#child.stdout.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        let frames: Frame[];
        try {
          frames = decoder.push(value);
        } catch (error) {
          return this.#fail("protocol", (error as Error).message);
        }
        for (const frame of frames) {
          if (this.#state === "dead") return;
          try {
            this.#dispatch(frame.header as unknown as FromSandbox, frame.payload);
          } catch (error) {
            // A ProtocolError, or a broker bug while handling the frame: either way this
            // process's state is unknown, so it goes.
            if (!(error instanceof ProtocolError)) this.#log("error", String(error));
            return this.#fail("protocol", (error as Error).message);
          }
        }
      }
    } finally {
      reader.releaseLock();
      await this.#child.stdout.cancel().catch(() => {});
    }
  }

  #dispatch(message: FromSandbox, payload: Uint8Array): void {
    const events = this.#options.events;
    switch (message.t) {
      case "ready":
        if (this.#state !== "starting") throw new ProtocolError("ready: sent twice");
        this.#state = "ready";
        this.#wasReady = true;
        clearTimeout(this.#startTimer);
        return events.ready(this);
      case "fatal":
        return this.#fail("fatal", String(message.message).slice(0, 2000));
      case "done":
        if (typeof message.id !== "number") throw new ProtocolError("done: id is not a number");
        return events.done(this, message, payload);
      case "call":
        if (
          typeof message.id !== "number" || typeof message.run !== "number" ||
          typeof message.capability !== "string" || typeof message.op !== "string"
        ) {
          throw new ProtocolError("call: id, run, capability and op are required");
        }
        return events.call(this, message, payload);
      default:
        throw new ProtocolError(
          `unknown message type ${JSON.stringify((message as { t: unknown }).t).slice(0, 40)}`,
        );
    }
  }

  async #readStderr(): Promise<void> {
    const text = this.#child.stderr.pipeThrough(new TextDecoderStream());
    let budget = this.#options.stderrLogBytes;
    let dropped = 0;
    let partial = "";
    const emit = (line: string) => {
      if (!line) return;
      if (line.length > budget) {
        dropped += line.length;
        return;
      }
      budget -= line.length;
      this.#log("warn", `stderr: ${line}`);
    };
    for await (const piece of text) {
      this.#stderrTail = (this.#stderrTail + piece).slice(-STDERR_TAIL_CHARS);
      const lines = (partial + piece).split("\n");
      partial = lines.pop() ?? "";
      if (partial.length > STDERR_TAIL_CHARS) {
        emit(partial);
        partial = "";
      }
      for (const line of lines) emit(line);
    }
    emit(partial);
    if (dropped) this.#log("warn", `stderr: ${dropped} more characters not logged (cap reached)`);
  }

  #log(level: SandboxLogEvent["level"], message: string): void {
    this.#options.onLog({ level, message, pid: this.pid, profile: this.profile.key });
  }
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
