/**
 * The `io` capability: the guest reads the current step's envelope and writes
 * its result. Input is read-only and only this step's; output is capped by
 * `limits.output_bytes` and checked against the manifest's `output_schema`
 * when the step ends (invalid output fails the step with `output_invalid`).
 *
 * @module
 */
import { z } from "zod";
import type { CapabilityPlugin } from "../../src/capability/capability_plugin.ts";

/** The `io` manifest section: no knobs; granting it is the decision. */
export const IoPolicySchema = z.strictObject({});
/** Parsed `io` section. */
export type IoPolicy = z.output<typeof IoPolicySchema>;

/**
 * Creates the `io` capability plugin.
 *
 * @example
 * ```ts
 * import { ioPlugin } from "./io_plugin.ts";
 * console.assert(ioPlugin().name === "io");
 * ```
 */
export function ioPlugin(): CapabilityPlugin<IoPolicy> {
  return {
    name: "io",
    description: "Read the step's input envelope; write the step's output",
    schema: IoPolicySchema,
    functions: {
      input_len: { params: [], results: ["i32"], doc: "Byte length of the input JSON" },
      read_input: {
        params: ["i32", "i32"],
        results: ["i32"],
        doc: "Copies up to len bytes of the input JSON to ptr; returns bytes copied",
      },
      write_output: {
        params: ["i32", "i32"],
        results: ["i32"],
        doc: "Appends len bytes at ptr to the output; 0 on success (the cap faults the step)",
      },
      fail: {
        params: ["i32", "i32"],
        results: ["i32"],
        doc:
          'Reports failure as JSON {"message", "code"?, "retryable"?, "details"?}; 0, or -3 when malformed',
      },
    },
    defaultBudget: 100_000,
    source: { module: import.meta.url, factory: "ioPlugin" },
    instantiate(ctx) {
      return {
        input_len: () => ctx.io.input.length,
        read_input: (ptr: number, len: number) => {
          const n = Math.min(len >>> 0, ctx.io.input.length);
          ctx.memory.write(ptr, ctx.io.input.subarray(0, n));
          return n;
        },
        write_output: (ptr: number, len: number) => {
          ctx.io.writeOutput(ctx.memory.view(ptr, len));
          return 0;
        },
        fail: (ptr: number, len: number) => {
          const text = ctx.memory.readString(ptr, len);
          let parsed: unknown;
          try {
            parsed = text === null ? undefined : JSON.parse(text);
          } catch { /* reported below */ }
          const report = FailureSchema.safeParse(parsed);
          if (!report.success) {
            return ctx.fail(
              "invalid_argument",
              "invalid_failure",
              'expected UTF-8 JSON {"message": string, "code"?: string, "retryable"?: boolean, "details"?: any}',
            );
          }
          ctx.io.reportedError = report.data;
          return 0;
        },
      };
    },
  };
}

const FailureSchema = z.strictObject({
  message: z.string().max(4096),
  code: z.string().max(100).optional(),
  retryable: z.boolean().optional(),
  details: z.unknown().optional(),
});
