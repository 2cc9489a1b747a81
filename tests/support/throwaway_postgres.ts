/**
 * A throwaway PostgreSQL cluster for tests: Debian's binaries
 * (`/usr/lib/postgresql/<v>/bin`, or `WB_PG_BIN`), a temp data dir, a free
 * loopback port, fsync off. Run as the `postgres` user through `runuser`
 * when this process is root (initdb refuses root).
 *
 * A cluster left behind by a killed test process is reaped by the next one
 * (its temp dir name carries the creating pid).
 *
 * @module
 */
import { join } from "node:path";

/** Directories searched for `initdb`/`pg_ctl`, newest first. */
const BIN_CANDIDATES = ["17", "16", "15", "14", "13"].map((v) => `/usr/lib/postgresql/${v}/bin`);

const TEMP_PREFIX = "wb_pg_";

/** The PostgreSQL bin dir to use, or `undefined` when none is installed. */
export function postgresBinDir(): string | undefined {
  const configured = Deno.env.get("WB_PG_BIN");
  for (const dir of configured ? [configured] : BIN_CANDIDATES) {
    if (isFile(join(dir, "initdb")) && isFile(join(dir, "pg_ctl"))) return dir;
  }
  return undefined;
}

/** Whether a throwaway cluster can be started here (binaries present; `runuser` + user `postgres` when root). */
export function canStartCluster(): boolean {
  if (!postgresBinDir()) return false;
  if (Deno.uid() !== 0) return true;
  return isFile("/usr/sbin/runuser") || isFile("/sbin/runuser") || isFile("/usr/bin/runuser")
    ? postgresUserIds() !== undefined
    : false;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function postgresUserIds(): { uid: number; gid: number } | undefined {
  try {
    const line = Deno.readTextFileSync("/etc/passwd").split("\n").find((l) =>
      l.startsWith("postgres:")
    );
    if (!line) return undefined;
    const [, , uid, gid] = line.split(":");
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return undefined;
  }
}

/** A running (or stopped) throwaway cluster. */
export class ThrowawayCluster {
  readonly dir: string;
  readonly port: number;
  readonly #bin: string;
  #running = false;
  #removed = false;

  private constructor(dir: string, port: number, bin: string) {
    this.dir = dir;
    this.port = port;
    this.#bin = bin;
  }

  /** `postgres://postgres@127.0.0.1:<port>/<database>`. */
  url(database = "postgres"): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  get running(): boolean {
    return this.#running;
  }

  /** initdb + start on a free port. */
  static async create(): Promise<ThrowawayCluster> {
    const bin = postgresBinDir();
    if (!bin) throw new Error("Cannot start a throwaway PostgreSQL as no initdb/pg_ctl was found");
    reapStaleClusters(bin);
    const dir = await Deno.makeTempDir({ prefix: `${TEMP_PREFIX}${Deno.pid}_` });
    const ids = Deno.uid() === 0 ? postgresUserIds() : undefined;
    if (ids) await Deno.chown(dir, ids.uid, ids.gid);
    await Deno.chmod(dir, 0o700);
    const initdb = await runAsPostgres([
      join(bin, "initdb"),
      "-D",
      join(dir, "data"),
      "-U",
      "postgres",
      "-A",
      "trust",
      "-E",
      "UTF8",
      "--locale=C",
      "--no-sync",
    ]);
    if (!initdb.ok) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw new Error(`Cannot start a throwaway PostgreSQL as initdb failed:\n${initdb.output}`);
    }
    // A free port can be taken between probing and binding: try a few.
    let lastError = "";
    for (let attempt = 0; attempt < 5; attempt++) {
      const cluster = new ThrowawayCluster(dir, freePort(), bin);
      try {
        await cluster.start();
        clusters.add(cluster);
        return cluster;
      } catch (error) {
        lastError = (error as Error).message;
      }
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(`Cannot start a throwaway PostgreSQL: ${lastError}`);
  }

  /** Starts the server (waits until it accepts connections). */
  async start(): Promise<void> {
    if (this.#running) return;
    const result = await runAsPostgres([
      join(this.#bin, "pg_ctl"),
      "-D",
      join(this.dir, "data"),
      "-l",
      join(this.dir, "server.log"),
      "-w",
      "-t",
      "60",
      "-o",
      [
        `-p ${this.port}`,
        "-c listen_addresses=127.0.0.1",
        `-c unix_socket_directories=${this.dir}`,
        "-c fsync=off",
        "-c synchronous_commit=off",
        "-c full_page_writes=off",
        "-c max_connections=200",
      ].join(" "),
      "start",
    ]);
    if (!result.ok) {
      const log = await Deno.readTextFile(join(this.dir, "server.log")).catch(() => "");
      throw new Error(
        `pg_ctl start failed on port ${this.port}:\n${result.output}\n${log.slice(-2000)}`,
      );
    }
    this.#running = true;
  }

  /** Stops the server (`fast`: open connections are terminated). */
  async stop(): Promise<void> {
    if (!this.#running) return;
    const result = await runAsPostgres([
      join(this.#bin, "pg_ctl"),
      "-D",
      join(this.dir, "data"),
      "-w",
      "-m",
      "fast",
      "stop",
    ]);
    if (!result.ok) throw new Error(`pg_ctl stop failed:\n${result.output}`);
    this.#running = false;
  }

  /** Stop, then start on the same port. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Stops the server (immediately) and removes its directory. */
  async destroy(): Promise<void> {
    if (this.#removed) return;
    this.#removed = true;
    clusters.delete(this);
    if (this.#running) {
      await runAsPostgres([
        join(this.#bin, "pg_ctl"),
        "-D",
        join(this.dir, "data"),
        "-w",
        "-m",
        "immediate",
        "stop",
      ]);
      this.#running = false;
    }
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** {@link destroy} for `unload` handlers, which cannot wait for promises. */
  destroySync(): void {
    if (this.#removed) return;
    this.#removed = true;
    clusters.delete(this);
    if (this.#running) {
      runAsPostgresSync([
        join(this.#bin, "pg_ctl"),
        "-D",
        join(this.dir, "data"),
        "-w",
        "-m",
        "immediate",
        "stop",
      ]);
      this.#running = false;
    }
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch {
      // Already gone.
    }
  }
}

const clusters = new Set<ThrowawayCluster>();
globalThis.addEventListener("unload", () => {
  for (const cluster of [...clusters]) cluster.destroySync();
});

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function command(args: string[]): { cmd: string; args: string[] } {
  return Deno.uid() === 0
    ? { cmd: "runuser", args: ["-u", "postgres", "--", ...args] }
    : { cmd: args[0], args: args.slice(1) };
}

async function runAsPostgres(args: string[]): Promise<{ ok: boolean; output: string }> {
  const { cmd, args: rest } = command(args);
  // cwd: runuser keeps the caller's cwd, which the postgres user may not be allowed to enter.
  const out = await new Deno.Command(cmd, {
    args: rest,
    cwd: "/",
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return { ok: out.success, output: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

function runAsPostgresSync(args: string[]): boolean {
  const { cmd, args: rest } = command(args);
  try {
    return new Deno.Command(cmd, {
      args: rest,
      cwd: "/",
      stdout: "null",
      stderr: "null",
      stdin: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
}

/** Stops and removes clusters whose creating process is gone (killed test runs). */
function reapStaleClusters(bin: string): void {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(tmp)];
  } catch {
    return;
  }
  for (const entry of entries) {
    const match = new RegExp(`^${TEMP_PREFIX}(\\d+)_`).exec(entry.name);
    if (!match || !entry.isDirectory) continue;
    const pid = Number(match[1]);
    if (pid === Deno.pid || isFile(`/proc/${pid}/status`)) continue;
    const dir = join(tmp, entry.name);
    if (isFile(join(dir, "data", "postmaster.pid"))) {
      runAsPostgresSync([
        join(bin, "pg_ctl"),
        "-D",
        join(dir, "data"),
        "-w",
        "-m",
        "immediate",
        "stop",
      ]);
    }
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Someone else reaped it first.
    }
  }
}
