/**
 * The entry module of a sandbox process, as a `data:` URL. It statically
 * imports the stdout guard, `sandbox_main.ts` and every plugin module, so
 * the whole module graph is known before the process runs: Deno loads a
 * static graph without `--allow-read`, while a dynamic `import()` of a
 * computed file URL would need it. A `data:` URL also means the broker
 * writes no file (it may run without `--allow-write`).
 *
 * @module
 */

/**
 * Builds the entry for plugins living in `pluginModules` (absolute module
 * URLs). The plugins' options are not in it: they arrive in the `init`
 * frame, so the command line shows module URLs only.
 *
 * @example
 * ```ts
 * import { sandboxEntry } from "./sandbox_entry.ts";
 * const entry = sandboxEntry(["file:///srv/plugins/io/io_plugin.ts"]);
 * console.assert(entry.startsWith("data:application/javascript,"));
 * ```
 */
export function sandboxEntry(pluginModules: readonly string[]): string {
  const unique = [...new Set(pluginModules)].sort();
  for (const url of unique) {
    if (!URL.canParse(url)) {
      throw new TypeError(
        `Cannot import a plugin module in a sandbox as its URL is not absolute: current value is ${url}`,
      );
    }
  }
  const here = (file: string) => JSON.stringify(new URL(file, import.meta.url).href);
  const lines = [
    `import ${here("./stdout_guard.ts")};`,
    `import { runSandbox } from ${here("./sandbox_main.ts")};`,
    ...unique.map((url, i) => `import * as m${i} from ${JSON.stringify(url)};`),
    `await runSandbox({ ${unique.map((url, i) => `${JSON.stringify(url)}: m${i}`).join(", ")} });`,
  ];
  return `data:application/javascript,${encodeURIComponent(lines.join("\n"))}`;
}
