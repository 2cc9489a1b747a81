/**
 * The WASI preview1 functions the host links, with their signatures and the
 * capability each one needs. Functions that touch the outside world beyond
 * stdio, clocks and randomness (paths, sockets, ...) need no capability: they
 * link so unmodified toolchain output loads, and always answer ENOTCAPABLE.
 *
 * @module
 */
import type { HostFunctionSpec } from "../capability/capability_plugin.ts";

/** WASI's import namespace. */
export const WASI_NAMESPACE = "wasi_snapshot_preview1";

/** A WASI function: its signature and the capability that must be granted to import it. */
export interface WasiFunctionSpec extends HostFunctionSpec {
  /** Capability the manifest must grant, or null when always linkable. */
  readonly requires: "io" | "time" | null;
}

const i32 = "i32" as const;
const i64 = "i64" as const;
const fn = (
  requires: WasiFunctionSpec["requires"],
  ...params: ("i32" | "i64")[]
): WasiFunctionSpec => ({
  params,
  results: [i32],
  requires,
});

/** Every WASI preview1 function, by name. */
export const WASI_FUNCTIONS: Readonly<Record<string, WasiFunctionSpec>> = {
  args_get: fn(null, i32, i32),
  args_sizes_get: fn(null, i32, i32),
  environ_get: fn(null, i32, i32),
  environ_sizes_get: fn(null, i32, i32),
  clock_res_get: fn("time", i32, i32),
  clock_time_get: fn("time", i32, i64, i32),
  fd_advise: fn(null, i32, i64, i64, i32),
  fd_allocate: fn(null, i32, i64, i64),
  fd_close: fn(null, i32),
  fd_datasync: fn(null, i32),
  fd_fdstat_get: fn(null, i32, i32),
  fd_fdstat_set_flags: fn(null, i32, i32),
  fd_fdstat_set_rights: fn(null, i32, i64, i64),
  fd_filestat_get: fn(null, i32, i32),
  fd_filestat_set_size: fn(null, i32, i64),
  fd_filestat_set_times: fn(null, i32, i64, i64, i32),
  fd_pread: fn(null, i32, i32, i32, i64, i32),
  fd_prestat_get: fn(null, i32, i32),
  fd_prestat_dir_name: fn(null, i32, i32, i32),
  fd_pwrite: fn(null, i32, i32, i32, i64, i32),
  fd_read: fn("io", i32, i32, i32, i32),
  fd_readdir: fn(null, i32, i32, i32, i64, i32),
  fd_renumber: fn(null, i32, i32),
  fd_seek: fn(null, i32, i64, i32, i32),
  fd_sync: fn(null, i32),
  fd_tell: fn(null, i32, i32),
  fd_write: fn("io", i32, i32, i32, i32),
  path_create_directory: fn(null, i32, i32, i32),
  path_filestat_get: fn(null, i32, i32, i32, i32, i32),
  path_filestat_set_times: fn(null, i32, i32, i32, i32, i64, i64, i32),
  path_link: fn(null, i32, i32, i32, i32, i32, i32, i32),
  path_open: fn(null, i32, i32, i32, i32, i32, i64, i64, i32, i32),
  path_readlink: fn(null, i32, i32, i32, i32, i32, i32),
  path_remove_directory: fn(null, i32, i32, i32),
  path_rename: fn(null, i32, i32, i32, i32, i32, i32),
  path_symlink: fn(null, i32, i32, i32, i32, i32),
  path_unlink_file: fn(null, i32, i32, i32),
  poll_oneoff: fn(null, i32, i32, i32, i32),
  proc_exit: { params: [i32], results: [], requires: null },
  proc_raise: fn(null, i32),
  random_get: fn("time", i32, i32),
  sched_yield: fn(null),
  sock_accept: fn(null, i32, i32, i32),
  sock_recv: fn(null, i32, i32, i32, i32, i32, i32),
  sock_send: fn(null, i32, i32, i32, i32, i32),
  sock_shutdown: fn(null, i32, i32),
};

/** `env` imports the core links (AssemblyScript's runtime hooks and an imported memory). */
export const ENV_FUNCTIONS: Readonly<Record<string, WasiFunctionSpec>> = {
  /** AssemblyScript `abort(message, file, line, column)`: traps with a readable message. */
  abort: { params: [i32, i32, i32, i32], results: [], requires: null },
  /** AssemblyScript `Math.random` seed. */
  seed: { params: [], results: ["f64"], requires: "time" },
};
