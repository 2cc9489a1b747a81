/**
 * The `deno run` flags of a sandbox process. Deny by default: no
 * `--allow-env`, `--allow-read`, `--allow-write`, `--allow-run`,
 * `--allow-ffi`, `--allow-sys` or `--allow-import`, ever; `--allow-net`
 * only for the hosts its profile lists; every wasm memory capped by V8.
 *
 * @module
 */
import type { SandboxProfile } from "./sandbox_profile.ts";

/** Options for {@link sandboxFlags}. */
export interface SandboxFlagsOptions {
  /** `deno.json` whose import map resolves the plugins' imports (e.g. `zod`). */
  config?: string;
  /** Whether a `deno.lock` beside `config` resolves its npm packages (then `--frozen`). */
  lockfile?: boolean;
}

/**
 * Flags for a sandbox serving `profile`, placed between `run` and the entry
 * module. A sandbox never downloads (`--cached-only`) and never writes a
 * lockfile. With a `deno.lock` beside the config (`lockfile`) it resolves
 * npm packages from it (`--frozen`), so it needs only what
 * `deno install --frozen` cached; without one, `--no-lock`, and Deno resolves
 * them again, which needs every package's registry metadata — `deno install`
 * caches that only for direct dependencies (on a fresh machine with
 * `--no-lock` and this package's config, no sandbox could start).
 *
 * @example
 * ```ts
 * import { sandboxFlags } from "./sandbox_flags.ts";
 * const flags = sandboxFlags({ netHosts: ["api.example.com"], memoryPages: 256, key: "k" });
 * console.assert(flags.includes("--allow-net=api.example.com"));
 * console.assert(flags.includes("--v8-flags=--wasm-max-mem-pages=256"));
 * ```
 */
export function sandboxFlags(profile: SandboxProfile, options: SandboxFlagsOptions = {}): string[] {
  const flags = [
    "--no-prompt",
    "--quiet",
    "--cached-only",
    options.lockfile ? "--frozen" : "--no-lock",
  ];
  if (options.config) flags.push(`--config=${options.config}`);
  if (profile.netHosts.length === 1 && profile.netHosts[0] === "*") flags.push("--allow-net");
  else if (profile.netHosts.length) flags.push(`--allow-net=${profile.netHosts.join(",")}`);
  flags.push(`--v8-flags=--wasm-max-mem-pages=${profile.memoryPages}`);
  return flags;
}
