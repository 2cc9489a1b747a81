/**
 * CPU time of processes from `/proc/<pid>/stat` (Linux): user + system
 * ticks of a process, optionally with its reaped children's (`cutime`,
 * `cstime`), converted to milliseconds. The bench takes a
 * {@link cpuSnapshot} before and after a phase and splits the CPU it used
 * between the broker (this process), its sandbox processes (its children)
 * and PostgreSQL (the postmaster and its children, or a given set of
 * backends).
 *
 * @example
 * ```ts ignore
 * const before = cpuSnapshot({ postgres: { postmaster: 1234 } });
 * // ... work ...
 * const used = cpuDelta(before, cpuSnapshot({ postgres: { postmaster: 1234 } }));
 * console.log(used.brokerMs, used.sandboxesMs, used.postgresMs);
 * ```
 *
 * @module
 */

/** `getconf CLK_TCK` on Linux x86-64 and arm64. */
const TICKS_PER_SECOND = 100;

interface Stat {
  pid: number;
  ppid: number;
  /** utime + stime, ticks. */
  own: number;
  /** cutime + cstime, ticks. */
  children: number;
}

/** Parses `/proc/<pid>/stat`; undefined when the process is gone. */
export function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may contain spaces: split after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, cutime 16, cstime 17.
  const at = (field: number) => Number(fields[field - 3]);
  return {
    pid,
    ppid: at(4),
    own: at(14) + at(15),
    children: at(16) + at(17),
  };
}

/** Every process's stat, for finding children. */
function allStats(): Stat[] {
  const out: Stat[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = readStat(Number(entry.name));
    if (stat) out.push(stat);
  }
  return out;
}

/** Which PostgreSQL processes to count. */
export type PostgresProcesses =
  /** A whole (throwaway) cluster: the postmaster, its children and its reaped children. */
  | { postmaster: number }
  /** Given backends only (a shared server). */
  | { backends: readonly number[] };

/** CPU ticks at one moment. */
export interface CpuSnapshot {
  atMs: number;
  broker: number;
  sandboxes: number;
  postgres: number;
}

/** Takes a snapshot of this process, its children and PostgreSQL. */
export function cpuSnapshot(options: { postgres?: PostgresProcesses } = {}): CpuSnapshot {
  const stats = allStats();
  const self = stats.find((s) => s.pid === Deno.pid);
  const children = stats.filter((s) => s.ppid === Deno.pid);
  let postgres = 0;
  const pg = options.postgres;
  if (pg && "postmaster" in pg) {
    const master = stats.find((s) => s.pid === pg.postmaster);
    postgres = (master ? master.own + master.children : 0) +
      stats.filter((s) => s.ppid === pg.postmaster).reduce((sum, s) => sum + s.own, 0);
  } else if (pg) {
    const wanted = new Set(pg.backends);
    postgres = stats.filter((s) => wanted.has(s.pid)).reduce((sum, s) => sum + s.own, 0);
  }
  return {
    atMs: performance.now(),
    broker: self?.own ?? 0,
    // Reaped sandboxes count through this process's cutime/cstime.
    sandboxes: children.reduce((sum, s) => sum + s.own, 0) + (self?.children ?? 0),
    postgres,
  };
}

/** CPU used between two snapshots, in milliseconds of CPU time. */
export interface CpuUsage {
  wallMs: number;
  brokerMs: number;
  sandboxesMs: number;
  postgresMs: number;
}

/** The CPU used from `before` to `after`. */
export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot): CpuUsage {
  const ms = (ticks: number) => (ticks * 1000) / TICKS_PER_SECOND;
  return {
    wallMs: after.atMs - before.atMs,
    brokerMs: ms(after.broker - before.broker),
    sandboxesMs: ms(after.sandboxes - before.sandboxes),
    postgresMs: ms(after.postgres - before.postgres),
  };
}

/** The 1-minute load average (`/proc/loadavg`), or NaN. */
export function loadAverage(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return NaN;
  }
}
