/**
 * The `log` capability: leveled, structured records tagged with the step.
 * Caps (`limits.log`) bound line length, lines and bytes per step; excess is
 * dropped and counted, never passed on, so a guest cannot flood the broker.
 *
 * @module
 */
import { z } from "zod";
import type { CapabilityPlugin } from "../../src/capability/capability_plugin.ts";
import { LOG_LEVELS } from "../../src/capability/step_log.ts";

/** The `log` manifest section: no knobs (caps live in `limits.log`). */
export const LogPolicySchema = z.strictObject({});
/** Parsed `log` section. */
export type LogPolicy = z.output<typeof LogPolicySchema>;

const lossy = new TextDecoder("utf-8");

/**
 * Creates the `log` capability plugin.
 *
 * @example
 * ```ts
 * import { logPlugin } from "./log_plugin.ts";
 * console.assert(logPlugin().functions.write.params.length === 3);
 * ```
 */
export function logPlugin(): CapabilityPlugin<LogPolicy> {
  return {
    name: "log",
    description: "Write leveled log records (0 debug, 1 info, 2 warn, 3 error)",
    schema: LogPolicySchema,
    functions: {
      write: {
        params: ["i32", "i32", "i32"],
        results: ["i32"],
        doc: "Logs len UTF-8 bytes at ptr with level 0-3; 0 kept, 1 dropped by a cap, -3 bad level",
      },
    },
    defaultBudget: 100_000,
    source: { module: import.meta.url, factory: "logPlugin" },
    instantiate(ctx) {
      return {
        write: (level: number, ptr: number, len: number) => {
          const name = LOG_LEVELS[level];
          if (name === undefined) {
            return ctx.fail(
              "invalid_argument",
              "invalid_level",
              `expected a level 0-3, got ${level}`,
            );
          }
          // Read no more than a line can keep: a huge len must not make the host copy it.
          const keep = Math.min(len >>> 0, ctx.log.lineBytesLimit + 4);
          ctx.memory.view(ptr, len); // bounds check of the whole range
          const message = lossy.decode(ctx.memory.view(ptr, keep));
          return ctx.log.write(name, message, len > keep ? { original_bytes: len } : undefined)
            ? 0
            : 1;
        },
      };
    },
  };
}
