/**
 * WASI preview1 for one step. A guest sees exactly three file descriptors:
 * fd 0 reads the step's input, fd 1 appends to its output (under the same cap
 * as `io.write_output`) and fd 2 becomes log records, one per line. Clocks
 * and randomness come from the step's clock, so a replayed step sees the same
 * values. There are no preopened directories, no sockets and no sleeping:
 * every other function links, so unmodified toolchain output loads, and
 * answers ENOTCAPABLE (or EBADF for a descriptor that is not open).
 *
 * Pointer errors are the guest's bug: they fault the step with `bad_pointer`
 * through {@link GuestMemory}; they never return EFAULT.
 *
 * @module
 */
import { GuestFault } from "../errors.ts";
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

/** The WASI errno values this host returns (`wasi_snapshot_preview1` numbering). */
export const WasiErrno = {
  /** No error. */
  SUCCESS: 0,
  /** The descriptor is not open (or not open for this operation). */
  BADF: 8,
  /** An argument is invalid (an unknown clock id). */
  INVAL: 28,
  /** The descriptor is a pipe-like stream: no seeking. */
  SPIPE: 70,
  /** The host does not offer this: no files, sockets, signals or sleeping. */
  NOTCAPABLE: 76,
} as const;

/** WASI clock ids. */
export const WasiClockId = {
  REALTIME: 0,
  MONOTONIC: 1,
  PROCESS_CPUTIME: 2,
  THREAD_CPUTIME: 3,
} as const;

/** `filetype.character_device`: what fds 0-2 report, so libc treats them as streams. */
export const WASI_FILETYPE_CHARACTER_DEVICE = 2;

/** WASI rights bits the stdio descriptors report. */
export const WasiRights = {
  FD_READ: 1n << 1n,
  FD_WRITE: 1n << 6n,
} as const;

/** Nominal clock resolutions: `Date.now()` has milliseconds, `performance.now()` microseconds. */
const REALTIME_RESOLUTION_NS = 1_000_000n;
const MONOTONIC_RESOLUTION_NS = 1_000n;

/** Size of a `fdstat` struct and of one `iovec`/`ciovec`. */
const FDSTAT_BYTES = 24;
const IOVEC_BYTES = 8;

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = "\r";

const lossy = new TextDecoder("utf-8");
const encoder = new TextEncoder();

/** What happened to a step's stderr; see {@link flushWasiStderr}. */
export interface WasiStderrStats {
  /** Bytes the guest wrote to fd 2. */
  bytes: number;
  /** Lines handed to the step's log (it may still drop some at its caps). */
  lines: number;
  /** Bytes thrown away because the manifest grants no `log`. */
  discardedBytes: number;
}

/** Splits stderr bytes into lines; keeps at most one line's worth of bytes pending. */
class StderrLines {
  bytes = 0;
  lines = 0;
  discardedBytes = 0;
  readonly #log: StepLog | null;
  /** Bytes of the current line the host keeps; longer lines are cut here. */
  readonly #keep: number;
  #pending: Uint8Array | null = null;
  #pendingLength = 0;
  /** Bytes of the current line so far, kept or not. */
  #lineLength = 0;

  constructor(log: StepLog | null) {
    this.#log = log;
    // A few bytes past the log's cap let StepLog see the line is too long and mark it truncated.
    this.#keep = log ? log.lineBytesLimit + 4 : 0;
  }

  write(bytes: Uint8Array): void {
    this.bytes += bytes.length;
    if (!this.#log) {
      this.discardedBytes += bytes.length;
      return;
    }
    let start = 0;
    while (start < bytes.length) {
      const newline = bytes.indexOf(NEWLINE, start);
      const end = newline === -1 ? bytes.length : newline;
      if (newline !== -1 && this.#lineLength === 0 && end - start <= this.#keep) {
        // A whole line in one write: decode it in place, no copy.
        this.#emit(bytes.subarray(start, end), end - start);
      } else {
        this.#append(bytes.subarray(start, end));
        if (newline !== -1) this.#emitPending();
      }
      if (newline === -1) break;
      start = newline + 1;
    }
  }

  /** Emits a trailing partial line, if any. */
  flush(): void {
    if (this.#lineLength > 0) this.#emitPending();
  }

  stats(): WasiStderrStats {
    return { bytes: this.bytes, lines: this.lines, discardedBytes: this.discardedBytes };
  }

  #append(part: Uint8Array): void {
    this.#lineLength += part.length;
    const room = this.#keep - this.#pendingLength;
    if (room <= 0 || part.length === 0) return;
    this.#pending ??= new Uint8Array(this.#keep);
    const kept = part.length > room ? part.subarray(0, room) : part;
    this.#pending.set(kept, this.#pendingLength);
    this.#pendingLength += kept.length;
  }

  #emitPending(): void {
    const kept = this.#pending?.subarray(0, this.#pendingLength) ?? new Uint8Array(0);
    this.#emit(kept, this.#lineLength);
    this.#pendingLength = 0;
    this.#lineLength = 0;
  }

  #emit(kept: Uint8Array, lineLength: number): void {
    let message = lossy.decode(kept);
    if (message.endsWith(CARRIAGE_RETURN)) message = message.slice(0, -1);
    this.lines++;
    this.#log!.write(
      "info",
      message,
      lineLength > kept.length
        ? { stream: "stderr", original_bytes: lineLength }
        : { stream: "stderr" },
    );
  }
}

// run_step.ts holds the step's StepIo but not the WASI imports (the linker wraps them),
// so a step's stderr state is found through its StepIo.
const stderrByIo = new WeakMap<StepIo, StderrLines>();

const NO_STDERR: Readonly<WasiStderrStats> = Object.freeze({
  bytes: 0,
  lines: 0,
  discardedBytes: 0,
});

/**
 * Ends a step's stderr: emits a trailing line that lacks its newline and
 * returns what stderr carried. Call it once the guest has stopped (returned,
 * exited, trapped or faulted), before reading the step's log records.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../capability/guest_memory.ts";
 * import { createStepClock } from "../capability/step_clock.ts";
 * import { StepIo } from "../capability/step_io.ts";
 * import { createWasiImports, flushWasiStderr } from "./wasi_preview1.ts";
 *
 * const io = new StepIo(new Uint8Array(), 1024);
 * createWasiImports(
 *   { memory: new GuestMemory(), io, log: null, clock: createStepClock(), args: ["x"] },
 *   ["fd_write"],
 * );
 * console.assert(flushWasiStderr(io).discardedBytes === 0);
 * ```
 */
export function flushWasiStderr(io: StepIo): WasiStderrStats {
  const stderr = stderrByIo.get(io);
  if (!stderr) return { ...NO_STDERR };
  stderr.flush();
  return stderr.stats();
}

type WasiFunction = (...args: never[]) => unknown;

/** One step's WASI state: which stdio fds are still open, stderr lines, encoded argv. */
class WasiStep {
  readonly ctx: WasiContext;
  /** Bit n set once fd n was closed. */
  #closed = 0;
  #stderr: StderrLines | null = null;
  #argv: Uint8Array[] | null = null;

  constructor(ctx: WasiContext) {
    this.ctx = ctx;
  }

  isOpen(fd: number): boolean {
    const n = fd >>> 0;
    return n <= STDERR && (this.#closed & (1 << n)) === 0;
  }

  close(fd: number): number {
    if (!this.isOpen(fd)) return WasiErrno.BADF;
    if (fd === STDERR) this.#stderr?.flush();
    this.#closed |= 1 << fd;
    return WasiErrno.SUCCESS;
  }

  stderr(): StderrLines {
    if (!this.#stderr) {
      this.#stderr = new StderrLines(this.ctx.log);
      stderrByIo.set(this.ctx.io, this.#stderr);
    }
    return this.#stderr;
  }

  argv(): Uint8Array[] {
    return this.#argv ??= this.ctx.args.map((arg) => encoder.encode(`${arg}\0`));
  }
}

/** A bounds-checked view whose length may exceed what `GuestMemory.view` can take (u32). */
function guestRange(memory: GuestMemory, ptr: number, length: number): Uint8Array {
  if (length > memory.size) {
    const start = ptr >>> 0;
    throw new GuestFault(
      "bad_pointer",
      `Cannot access guest memory as [${start}, ${
        start + length
      }) is outside its ${memory.size} bytes`,
    );
  }
  return memory.view(ptr, length);
}

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function putU32(memory: GuestMemory, ptr: number, value: number): void {
  dataView(memory.view(ptr, 4)).setUint32(0, value >>> 0, true);
}

function putU64(memory: GuestMemory, ptr: number, value: bigint): void {
  dataView(memory.view(ptr, 8)).setBigUint64(0, BigInt.asUintN(64, value), true);
}

/** Calls `each(buf, len)` for the iovecs at `iovs`; stops early when it returns false. */
function forEachIovec(
  memory: GuestMemory,
  iovs: number,
  count: number,
  each: (buf: number, len: number) => boolean,
): void {
  const n = count >>> 0;
  const table = dataView(guestRange(memory, iovs, n * IOVEC_BYTES));
  for (let i = 0; i < n; i++) {
    const at = i * IOVEC_BYTES;
    if (!each(table.getUint32(at, true), table.getUint32(at + 4, true))) return;
  }
}

function fdWrite(s: WasiStep) {
  return (fd: number, iovs: number, count: number, nwrittenPtr: number): number => {
    if ((fd !== STDOUT && fd !== STDERR) || !s.isOpen(fd)) return WasiErrno.BADF;
    const { memory, io } = s.ctx;
    let written = 0;
    forEachIovec(memory, iovs, count, (buf, len) => {
      if (len === 0) return true;
      const bytes = memory.view(buf, len);
      if (fd === STDOUT) io.writeOutput(bytes);
      else s.stderr().write(bytes);
      written += len;
      return true;
    });
    putU32(memory, nwrittenPtr, written);
    return WasiErrno.SUCCESS;
  };
}

function fdRead(s: WasiStep) {
  return (fd: number, iovs: number, count: number, nreadPtr: number): number => {
    if (fd !== STDIN || !s.isOpen(fd)) return WasiErrno.BADF;
    const { memory, io } = s.ctx;
    let read = 0;
    forEachIovec(memory, iovs, count, (buf, len) => {
      if (len === 0) return true;
      // Check the destination before consuming input.
      const target = memory.view(buf, len);
      const chunk = io.readInput(target.length);
      target.set(chunk);
      read += chunk.length;
      return chunk.length === target.length;
    });
    putU32(memory, nreadPtr, read);
    return WasiErrno.SUCCESS;
  };
}

function fdFdstatGet(s: WasiStep) {
  return (fd: number, statPtr: number): number => {
    if (!s.isOpen(fd)) return WasiErrno.BADF;
    const stat = s.ctx.memory.view(statPtr, FDSTAT_BYTES);
    stat.fill(0);
    const view = dataView(stat);
    view.setUint8(0, WASI_FILETYPE_CHARACTER_DEVICE);
    // No FD_SEEK/FD_TELL: libc's isatty() then sees a terminal-like stream.
    view.setBigUint64(8, fd === STDIN ? WasiRights.FD_READ : WasiRights.FD_WRITE, true);
    return WasiErrno.SUCCESS;
  };
}

function clockTimeGet(s: WasiStep) {
  return (id: number, _precision: bigint, timePtr: number): number => {
    const { clock, memory } = s.ctx;
    switch (id) {
      case WasiClockId.REALTIME:
        putU64(memory, timePtr, clock.wallNs());
        return WasiErrno.SUCCESS;
      case WasiClockId.MONOTONIC:
      case WasiClockId.PROCESS_CPUTIME:
      case WasiClockId.THREAD_CPUTIME:
        putU64(memory, timePtr, clock.monotonicNs());
        return WasiErrno.SUCCESS;
      default:
        return WasiErrno.INVAL;
    }
  };
}

function clockResGet(s: WasiStep) {
  return (id: number, resPtr: number): number => {
    switch (id) {
      case WasiClockId.REALTIME:
        putU64(s.ctx.memory, resPtr, REALTIME_RESOLUTION_NS);
        return WasiErrno.SUCCESS;
      case WasiClockId.MONOTONIC:
      case WasiClockId.PROCESS_CPUTIME:
      case WasiClockId.THREAD_CPUTIME:
        putU64(s.ctx.memory, resPtr, MONOTONIC_RESOLUTION_NS);
        return WasiErrno.SUCCESS;
      default:
        return WasiErrno.INVAL;
    }
  };
}

function argsSizesGet(s: WasiStep) {
  return (countPtr: number, bufSizePtr: number): number => {
    const argv = s.argv();
    let size = 0;
    for (const arg of argv) size += arg.length;
    putU32(s.ctx.memory, countPtr, argv.length);
    putU32(s.ctx.memory, bufSizePtr, size);
    return WasiErrno.SUCCESS;
  };
}

function argsGet(s: WasiStep) {
  return (argvPtr: number, bufPtr: number): number => {
    const { memory } = s.ctx;
    const argv = s.argv();
    let size = 0;
    for (const arg of argv) size += arg.length;
    const pointers = dataView(guestRange(memory, argvPtr, argv.length * 4));
    const buf = guestRange(memory, bufPtr, size);
    let offset = 0;
    argv.forEach((arg, i) => {
      pointers.setUint32(i * 4, ((bufPtr >>> 0) + offset) >>> 0, true);
      buf.set(arg, offset);
      offset += arg.length;
    });
    return WasiErrno.SUCCESS;
  };
}

/**
 * A function outside stdio, clocks and randomness: EBADF when a descriptor
 * argument (at `fdArgs`) is not an open stdio fd, else ENOTCAPABLE.
 */
function notCapable(fdArgs: readonly number[]) {
  return (s: WasiStep) => (...args: number[]): number => {
    for (const i of fdArgs) if (!s.isOpen(args[i])) return WasiErrno.BADF;
    return WasiErrno.NOTCAPABLE;
  };
}

const FIRST_FD = [0] as const;

/** Every WASI preview1 function, as a factory over one step's state. */
const BUILDERS: Readonly<Record<string, (s: WasiStep) => WasiFunction>> = {
  args_get: argsGet,
  args_sizes_get: argsSizesGet,
  environ_get: () => (_environPtr: number, _bufPtr: number) => WasiErrno.SUCCESS,
  environ_sizes_get: (s) => (countPtr: number, bufSizePtr: number) => {
    putU32(s.ctx.memory, countPtr, 0);
    putU32(s.ctx.memory, bufSizePtr, 0);
    return WasiErrno.SUCCESS;
  },
  clock_res_get: clockResGet,
  clock_time_get: clockTimeGet,
  random_get: (s) => (bufPtr: number, len: number) => {
    s.ctx.clock.fillRandom(s.ctx.memory.view(bufPtr, len));
    return WasiErrno.SUCCESS;
  },
  fd_close: (s) => (fd: number) => s.close(fd),
  fd_fdstat_get: fdFdstatGet,
  fd_read: fdRead,
  fd_write: fdWrite,
  fd_seek: (s) => (fd: number, _offset: bigint, _whence: number, _newOffsetPtr: number) =>
    s.isOpen(fd) ? WasiErrno.SPIPE : WasiErrno.BADF,
  fd_tell: (s) => (fd: number, _offsetPtr: number) =>
    s.isOpen(fd) ? WasiErrno.SPIPE : WasiErrno.BADF,
  // No fd is a preopened directory, so libc finds none and path lookups fail early.
  fd_prestat_get: () => (_fd: number, _prestatPtr: number) => WasiErrno.BADF,
  fd_prestat_dir_name: () => (_fd: number, _pathPtr: number, _len: number) => WasiErrno.BADF,
  fd_advise: notCapable(FIRST_FD),
  fd_allocate: notCapable(FIRST_FD),
  fd_datasync: notCapable(FIRST_FD),
  fd_fdstat_set_flags: notCapable(FIRST_FD),
  fd_fdstat_set_rights: notCapable(FIRST_FD),
  fd_filestat_get: notCapable(FIRST_FD),
  fd_filestat_set_size: notCapable(FIRST_FD),
  fd_filestat_set_times: notCapable(FIRST_FD),
  fd_pread: notCapable(FIRST_FD),
  fd_pwrite: notCapable(FIRST_FD),
  fd_readdir: notCapable(FIRST_FD),
  fd_renumber: notCapable([0, 1]),
  fd_sync: notCapable(FIRST_FD),
  path_create_directory: notCapable(FIRST_FD),
  path_filestat_get: notCapable(FIRST_FD),
  path_filestat_set_times: notCapable(FIRST_FD),
  path_link: notCapable([0, 4]),
  path_open: notCapable(FIRST_FD),
  path_readlink: notCapable(FIRST_FD),
  path_remove_directory: notCapable(FIRST_FD),
  path_rename: notCapable([0, 3]),
  path_symlink: notCapable([2]),
  path_unlink_file: notCapable(FIRST_FD),
  // No sleeping: a step's time is its deadline's, and a virtual clock cannot wait.
  poll_oneoff: () => (_in: number, _out: number, _count: number, _neventsPtr: number) =>
    WasiErrno.NOTCAPABLE,
  proc_exit: () => (code: number): never => {
    throw new WasiExit(code >>> 0);
  },
  proc_raise: () => (_signal: number) => WasiErrno.NOTCAPABLE,
  sched_yield: () => () => WasiErrno.SUCCESS,
  sock_accept: notCapable(FIRST_FD),
  sock_recv: notCapable(FIRST_FD),
  sock_send: notCapable(FIRST_FD),
  sock_shutdown: notCapable(FIRST_FD),
};

/** Names of every WASI preview1 function {@link createWasiImports} can build. */
export const WASI_IMPLEMENTED: readonly string[] = Object.keys(BUILDERS);

/**
 * Builds the WASI functions named in `names` (the ones the guest imports) for
 * one step. Throws a TypeError for a name WASI preview1 does not have.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../capability/guest_memory.ts";
 * import { createStepClock } from "../capability/step_clock.ts";
 * import { StepIo } from "../capability/step_io.ts";
 * import { createWasiImports, WasiErrno } from "./wasi_preview1.ts";
 *
 * const wasi = createWasiImports({
 *   memory: new GuestMemory(),
 *   io: new StepIo(new Uint8Array(), 1024),
 *   log: null,
 *   clock: createStepClock(),
 *   args: ["echo"],
 * }, ["fd_seek", "path_open"]);
 * const pathOpen = wasi.path_open as (...args: (number | bigint)[]) => number;
 * console.assert(pathOpen(0, 0, 0, 0, 0, 0n, 0n, 0, 0) === WasiErrno.NOTCAPABLE);
 * console.assert(pathOpen(3, 0, 0, 0, 0, 0n, 0n, 0, 0) === WasiErrno.BADF);
 * ```
 */
export function createWasiImports(
  ctx: WasiContext,
  names: readonly string[],
): Record<string, (...args: never[]) => unknown> {
  const step = new WasiStep(ctx);
  const functions: Record<string, WasiFunction> = {};
  for (const name of names) {
    const build = Object.hasOwn(BUILDERS, name) ? BUILDERS[name] : undefined;
    if (!build) {
      throw new TypeError(
        `Cannot create WASI import "${name}" as WASI preview1 has no such function`,
      );
    }
    functions[name] = build(step);
  }
  return functions;
}
