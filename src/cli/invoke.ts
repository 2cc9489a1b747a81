/**
 * `deno task invoke <guest.wasm> [--manifest m.json] [--input in.json] [--secret K=V]...`
 *
 * Runs one step exactly as the broker would (sandbox process, manifest
 * policy, limits, secret scrubbing) and prints the outcome as JSON on stdout.
 * Log records go to stderr as JSON lines. Exit status: 0 completed, 1 the
 * step failed, 2 usage, file or manifest error.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createRuntime } from "../create_runtime.ts";
import { ManifestError, WasmBrokerError } from "../errors.ts";
import { defaultManifestInput } from "../manifest/manifest.ts";
import { errorFromThrown } from "../runtime/run_step.ts";
import { emptyMetrics, HOST_CALL_LOG_LIMIT, type StepOutcome } from "../runtime/step_outcome.ts";

const HELP = `Usage: deno task invoke <guest.wasm> [options]

Runs one step of a guest exactly as the broker would — in a sandbox process,
under its manifest's capabilities and limits — and prints the outcome as JSON:

  {"status": "completed"|"failed", "result": ..., "error": {code, message, retryable}|null,
   "metrics": {compile_ms, instantiate_us, run_ms, memory_high_water_bytes,
               host_calls: {"<cap>.<fn>": n}, policy_denials, log: {records, dropped}},
   "host_call_log": [{call, at_us, us, denied?}]}   the first ${HOST_CALL_LOG_LIMIT} host calls,
                                                    timed; absent when there were none

The guest's log records go to stderr, one JSON object a line (--quiet: none).

Options:
  --manifest <file>        Manifest JSON (default: only io and log, default limits)
  --input <file|->         Step input JSON; "-" reads stdin (default: {})
  --secret KEY=VALUE       A secret the guest may read if its manifest declares KEY
                           (repeatable; never printed)
  --timeout-ms <n>         Override limits.timeout_ms
  --memory-limit-mb <n>    Override limits.memory (MiB)
  --in-process             Run in this process instead of a sandbox (no hard timeout;
                           for debugging trusted guests only)
  --quiet                  Do not print log records on stderr
  -h, --help               Show this help

Exit status: 0 completed, 1 step failed, 2 usage, file or manifest error.

Example:
  deno task invoke catalog/examples/echo/echo.wasm --input input.json
`;

class UsageError extends Error {}

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) {
    throw new UsageError(
      `Cannot use --${name} as it must be a positive integer: current value is "${value}"`,
    );
  }
  return n;
}

async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = path === "-"
      ? await new Response(Deno.stdin.readable).text()
      : await Deno.readTextFile(path);
  } catch (error) {
    throw new UsageError(`Cannot read ${what} "${path}": ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`Cannot parse ${what} "${path}" as JSON: ${(error as Error).message}`);
  }
}

function parseSecrets(pairs: readonly string[]): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw new UsageError(
        `Cannot use --secret as it must be KEY=VALUE: current value is "${pair.split("=")[0]}=…"`,
      );
    }
    secrets[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return secrets;
}

/** Runs the CLI; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        manifest: { type: "string" },
        input: { type: "string" },
        secret: { type: "string", multiple: true, default: [] },
        "timeout-ms": { type: "string" },
        "memory-limit-mb": { type: "string" },
        "in-process": { type: "boolean", default: false },
        quiet: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  try {
    if (positionals.length !== 1) {
      throw new UsageError(
        `Cannot run as exactly one guest .wasm file is required: got ${positionals.length}`,
      );
    }
    const [guestPath] = positionals;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(guestPath);
    } catch (error) {
      throw new UsageError(`Cannot read guest "${guestPath}": ${(error as Error).message}`);
    }
    const manifestInput = (values.manifest
      ? await readJsonFile(values.manifest, "manifest")
      : defaultManifestInput()) as Record<string, unknown>;
    const timeoutMs = positiveInt("timeout-ms", values["timeout-ms"]);
    const memoryMb = positiveInt("memory-limit-mb", values["memory-limit-mb"]);
    if (timeoutMs !== undefined || memoryMb !== undefined) {
      if (
        typeof manifestInput !== "object" || manifestInput === null || Array.isArray(manifestInput)
      ) {
        throw new UsageError(`Cannot apply limit overrides as the manifest is not a JSON object`);
      }
      const limits = { ...(manifestInput.limits as Record<string, unknown> ?? {}) };
      if (timeoutMs !== undefined) {
        limits.timeout_ms = timeoutMs;
      }
      if (memoryMb !== undefined) {
        limits.memory = `${memoryMb}MiB`;
      }
      manifestInput.limits = limits;
    }
    const input = values.input ? await readJsonFile(values.input, "input") : {};
    const secrets = parseSecrets(values.secret ?? []);
    const name = guestPath.split("/").pop()!.replace(/\.wasm$/, "");

    const runtime = createRuntime({
      secrets,
      isolation: values["in-process"] ? "in-process" : "sandbox",
    });
    try {
      let outcome: StepOutcome;
      try {
        const guest = await runtime.load(bytes, manifestInput, { name, source: values.manifest });
        // A handler author sees where the time went: the host calls are timed here.
        outcome = await runtime.execute(guest, input, { timeHostCalls: true });
      } catch (error) {
        if (error instanceof ManifestError || !(error instanceof WasmBrokerError)) {
          throw error;
        }
        // A guest the broker would refuse at load is a failed step, as in the broker.
        outcome = {
          status: "failed",
          result: null,
          error: errorFromThrown(error),
          metrics: emptyMetrics(),
          logs: [],
        };
      }
      if (!values.quiet) {
        for (const record of outcome.logs) {
          console.error(JSON.stringify(record));
        }
      }
      const { logs: _logs, ...printed } = outcome;
      console.log(JSON.stringify(printed, null, 2));
      return outcome.status === "completed" ? 0 : 1;
    } finally {
      await runtime.close();
    }
  } catch (error) {
    if (error instanceof UsageError || error instanceof ManifestError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
