/**
 * Maps Tasker's telemetry settings onto Deno's built-in OpenTelemetry.
 *
 * Tasker configures a worker with `TELEMETRY_ENABLED`,
 * `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_SERVICE_NAME`. Deno exports spans,
 * metrics and logs over OTLP itself when started with `OTEL_DENO=true`, and
 * reads that variable only at startup: a running process cannot turn it on.
 * So when `TELEMETRY_ENABLED` asks for telemetry and `OTEL_DENO` is not set,
 * the broker starts itself again as a child with `OTEL_DENO=true`
 * ({@link relaunchWithOtel}), forwarding signals and its exit status. The
 * child sees `OTEL_DENO=true` and runs normally, so there is no loop.
 *
 * The other `OTEL_*` variables are the standard ones and read by Deno
 * directly; the endpoint must be OTLP over HTTP (Deno sends
 * `http/protobuf` by default, or `http/json`; it has no gRPC exporter).
 *
 * @module
 */

/** What to do about OpenTelemetry at startup. */
export interface OtelLaunchPlan {
  /**
   * - `off`: no export.
   * - `on`: Deno's exporter is already running in this process.
   * - `relaunch`: start again with {@link env} added (see {@link relaunchWithOtel}).
   */
  action: "off" | "on" | "relaunch";
  /** Variables the relaunched process gets on top of this one's. */
  env: Record<string, string>;
  /** Misconfigurations worth logging (never fatal). */
  warnings: string[];
}

/** `OTEL_SERVICE_NAME` used when neither it nor `OTEL_RESOURCE_ATTRIBUTES` names the service. */
export const DEFAULT_SERVICE_NAME = "wasm-broker";

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off", ""]);

/**
 * Decides, from the environment, whether OpenTelemetry export is on, off,
 * or needs a relaunch.
 *
 * @example
 * ```ts
 * import { planOtelLaunch } from "./otel_launch.ts";
 * const plan = planOtelLaunch({ TELEMETRY_ENABLED: "true" });
 * console.assert(plan.action === "relaunch");
 * console.assert(plan.env.OTEL_DENO === "true" && plan.env.OTEL_SERVICE_NAME === "wasm-broker");
 * console.assert(planOtelLaunch({ OTEL_DENO: "true" }).action === "on");
 * console.assert(planOtelLaunch({}).action === "off");
 * ```
 */
export function planOtelLaunch(env: Readonly<Record<string, string | undefined>>): OtelLaunchPlan {
  const warnings: string[] = [];
  const otelDeno = env.OTEL_DENO;
  const telemetry = env.TELEMETRY_ENABLED;
  let wanted = false;
  if (telemetry !== undefined) {
    const value = telemetry.trim().toLowerCase();
    if (TRUE.has(value)) wanted = true;
    else if (!FALSE.has(value)) {
      warnings.push(
        `TELEMETRY_ENABLED is not true or false: current value is ${
          JSON.stringify(telemetry)
        }; telemetry stays off`,
      );
    }
  }

  if (otelDeno === "true") {
    if (telemetry !== undefined && !wanted) {
      warnings.push("OTEL_DENO=true turns Deno's exporter on whatever TELEMETRY_ENABLED says");
    }
    return { action: "on", env: {}, warnings: [...warnings, ...endpointWarnings(env)] };
  }
  if (otelDeno !== undefined && otelDeno !== "false") {
    warnings.push(
      `OTEL_DENO is not true or false (Deno accepts only those): current value is ${
        JSON.stringify(otelDeno)
      }`,
    );
  }
  if (!wanted) return { action: "off", env: {}, warnings };
  if (otelDeno === "false") {
    warnings.push("TELEMETRY_ENABLED=true is overridden by OTEL_DENO=false; telemetry stays off");
    return { action: "off", env: {}, warnings };
  }
  const add: Record<string, string> = { OTEL_DENO: "true" };
  const namedByResource = /(^|,)\s*service\.name=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? "");
  if (!env.OTEL_SERVICE_NAME && !namedByResource) add.OTEL_SERVICE_NAME = DEFAULT_SERVICE_NAME;
  return { action: "relaunch", env: add, warnings: [...warnings, ...endpointWarnings(env)] };
}

function endpointWarnings(env: Readonly<Record<string, string | undefined>>): string[] {
  const warnings: string[] = [];
  const protocol = env.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (protocol && protocol !== "http/protobuf" && protocol !== "http/json") {
    warnings.push(
      `OTEL_EXPORTER_OTLP_PROTOCOL is not http/protobuf or http/json (Deno has no gRPC exporter): current value is ${
        JSON.stringify(protocol)
      }`,
    );
  }
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (endpoint) {
    let port = "";
    try {
      port = new URL(endpoint).port;
    } catch {
      warnings.push(
        `OTEL_EXPORTER_OTLP_ENDPOINT is not a URL: current value is ${JSON.stringify(endpoint)}`,
      );
    }
    if (port === "4317") {
      warnings.push(
        "OTEL_EXPORTER_OTLP_ENDPOINT uses port 4317, the OTLP/gRPC port; Deno exports OTLP over HTTP (collectors listen on 4318)",
      );
    }
  }
  return warnings;
}

/** Options for {@link relaunchWithOtel}. */
export interface RelaunchOptions {
  /**
   * Flags for `deno run` before the module (permissions, `--config`, ...):
   * Deno does not tell a process which flags started it, so the caller
   * states them.
   */
  denoFlags: readonly string[];
  /** Module to run. Default `Deno.mainModule`. */
  mainModule?: string;
  /** Arguments after the module. Default `Deno.args`. */
  args?: readonly string[];
  /**
   * util-linux `setpriv`, to start the child with `--pdeathsig KILL` so it
   * dies with this process even on SIGKILL. Default `/usr/bin/setpriv` when
   * it exists; `false` starts `deno` directly.
   */
  setpriv?: string | false;
}

const FORWARDED: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * Runs the program again with `plan.env` added, stdio inherited, SIGINT,
 * SIGTERM and SIGHUP forwarded, and resolves to the exit code to exit with
 * (128 + signal number when the child was killed by a signal).
 *
 * @example
 * ```ts ignore
 * const plan = planOtelLaunch(Deno.env.toObject());
 * for (const warning of plan.warnings) logger.warn(warning);
 * if (plan.action === "relaunch") Deno.exit(await relaunchWithOtel(plan, { denoFlags: ["-A"] }));
 * ```
 */
export async function relaunchWithOtel(
  plan: OtelLaunchPlan,
  options: RelaunchOptions,
): Promise<number> {
  const setpriv = options.setpriv ?? (fileExists("/usr/bin/setpriv") ? "/usr/bin/setpriv" : false);
  const denoArgs = [
    "run",
    ...options.denoFlags,
    options.mainModule ?? Deno.mainModule,
    ...(options.args ?? Deno.args),
  ];
  const [program, args] = setpriv
    ? [setpriv, ["--pdeathsig", "KILL", "--", Deno.execPath(), ...denoArgs]]
    : [Deno.execPath(), denoArgs];
  const child = new Deno.Command(program, {
    args,
    env: plan.env,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const listeners = FORWARDED.map((signal) => {
    const forward = () => {
      try {
        child.kill(signal);
      } catch {
        // Already gone: its status is on the way.
      }
    };
    Deno.addSignalListener(signal, forward);
    return [signal, forward] as const;
  });
  try {
    const status = await child.status;
    return status.signal ? 128 + signalNumber(status.signal) : status.code;
  } finally {
    for (const [signal, forward] of listeners) Deno.removeSignalListener(signal, forward);
  }
}

function signalNumber(signal: Deno.Signal): number {
  const numbers: Partial<Record<Deno.Signal, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGABRT: 6,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGTERM: 15,
  };
  return numbers[signal] ?? 0;
}

function fileExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
