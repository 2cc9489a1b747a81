/**
 * The `limits` section of a manifest: memory, tables, time, output, log and
 * host-call budgets. Every field has a safe default, so `{}` is valid.
 *
 * @module
 */
import { z } from "zod";
import { LOG_LEVELS } from "../capability/step_log.ts";

/** Bytes in one WebAssembly page. */
export const WASM_PAGE_BYTES = 65536;
/** Pages a wasm32 memory can address at most (4 GiB). */
export const MAX_WASM_PAGES = 65536;

const UNITS: Record<string, number> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
};
const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)$/;

/** Turns a byte count into whole pages, rounding down so the limit is never exceeded. */
function bytesToPages(bytes: number, ctx: z.RefinementCtx): number {
  const pages = Math.floor(bytes / WASM_PAGE_BYTES);
  if (pages < 1 || pages > MAX_WASM_PAGES) {
    ctx.addIssue({
      code: "custom",
      message: `expected between 64KiB (1 page) and 4GiB (65536 pages), got ${bytes} bytes`,
    });
    return z.NEVER;
  }
  return pages;
}

/** `limits.memory`: bytes (number), a size string ("16MiB") or `{pages}`; parsed to pages. */
export const MemoryLimitSchema = z.union([
  z.number().int().positive().transform(bytesToPages),
  z.string().transform((text, ctx) => {
    const match = SIZE.exec(text.trim());
    if (!match) {
      ctx.addIssue({
        code: "custom",
        message:
          `expected a size such as "16MiB" (units B, KiB, MiB, GiB, KB, MB, GB), got "${text}"`,
      });
      return z.NEVER;
    }
    return bytesToPages(Math.floor(Number(match[1]) * UNITS[match[2]]), ctx);
  }),
  z.strictObject({ pages: z.number().int().min(1).max(MAX_WASM_PAGES) }).transform((v) => v.pages),
]);

/** Default limits; documented in docs/manifest.md. */
export const DEFAULT_LIMITS = {
  memoryPages: 1024, // 64 MiB
  tableElements: 10_000,
  timeoutMs: 5_000,
  outputBytes: 4 * 1024 * 1024,
  log: { lineBytes: 4096, lines: 1000, bytes: 256 * 1024, level: "debug" as const },
};

/** Schema of `limits`. */
export const LimitsSchema = z.strictObject({
  memory: MemoryLimitSchema.default(DEFAULT_LIMITS.memoryPages),
  table_elements: z.number().int().min(0).max(10_000_000).default(DEFAULT_LIMITS.tableElements),
  timeout_ms: z.number().int().min(1).max(15 * 60 * 1000).default(DEFAULT_LIMITS.timeoutMs),
  output_bytes: z.number().int().min(2).max(256 * 1024 * 1024).default(DEFAULT_LIMITS.outputBytes),
  log: z.strictObject({
    line_bytes: z.number().int().min(16).max(1024 * 1024).default(DEFAULT_LIMITS.log.lineBytes),
    lines: z.number().int().min(0).max(1_000_000).default(DEFAULT_LIMITS.log.lines),
    bytes: z.number().int().min(0).max(64 * 1024 * 1024).default(DEFAULT_LIMITS.log.bytes),
    level: z.enum(LOG_LEVELS).default(DEFAULT_LIMITS.log.level),
  }).prefault({}),
  /** Host calls allowed per step, by capability name (overrides the plugin's default budget). */
  host_calls: z.record(z.string(), z.number().int().min(0)).default({}),
});

/** Parsed limits (memory in pages). */
export type Limits = z.output<typeof LimitsSchema>;
