import assert from "node:assert/strict";
import { planOtelLaunch } from "./otel_launch.ts";

const LAUNCH = new URL("./otel_launch.ts", import.meta.url).href;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const HAS_SETPRIV = (() => {
  try {
    return Deno.statSync("/usr/bin/setpriv").isFile;
  } catch {
    return false;
  }
})();

Deno.test("planOtelLaunch() maps TELEMETRY_ENABLED and OTEL_DENO to off, on or relaunch", () => {
  const cases: [Record<string, string>, string, Record<string, string>][] = [
    [{}, "off", {}],
    [{ TELEMETRY_ENABLED: "false" }, "off", {}],
    [{ TELEMETRY_ENABLED: "" }, "off", {}],
    [{ TELEMETRY_ENABLED: "true" }, "relaunch", {
      OTEL_DENO: "true",
      OTEL_SERVICE_NAME: "wasm-broker",
    }],
    [{ TELEMETRY_ENABLED: " YES " }, "relaunch", {
      OTEL_DENO: "true",
      OTEL_SERVICE_NAME: "wasm-broker",
    }],
    [{ TELEMETRY_ENABLED: "1", OTEL_SERVICE_NAME: "orders-worker" }, "relaunch", {
      OTEL_DENO: "true",
    }],
    [
      { TELEMETRY_ENABLED: "on", OTEL_RESOURCE_ATTRIBUTES: "team=x,service.name=svc" },
      "relaunch",
      { OTEL_DENO: "true" },
    ],
    [{ OTEL_DENO: "true" }, "on", {}],
    [{ OTEL_DENO: "true", TELEMETRY_ENABLED: "true" }, "on", {}],
    [{ OTEL_DENO: "false", TELEMETRY_ENABLED: "true" }, "off", {}],
  ];
  for (const [env, action, add] of cases) {
    const plan = planOtelLaunch(env);
    assert.equal(plan.action, action, JSON.stringify(env));
    assert.deepEqual(plan.env, add, JSON.stringify(env));
  }
});

Deno.test("planOtelLaunch() warns about values Deno or Tasker would not understand", () => {
  const warned = (env: Record<string, string>, pattern: RegExp) => {
    const plan = planOtelLaunch(env);
    assert.ok(
      plan.warnings.some((w) => pattern.test(w)),
      `${JSON.stringify(env)}: ${plan.warnings}`,
    );
    return plan;
  };
  assert.equal(warned({ TELEMETRY_ENABLED: "maybe" }, /TELEMETRY_ENABLED/).action, "off");
  assert.equal(warned({ OTEL_DENO: "1" }, /OTEL_DENO/).action, "off");
  warned({ OTEL_DENO: "true", TELEMETRY_ENABLED: "false" }, /whatever TELEMETRY_ENABLED/);
  warned({ OTEL_DENO: "false", TELEMETRY_ENABLED: "true" }, /overridden by OTEL_DENO=false/);
  warned({
    TELEMETRY_ENABLED: "true",
    OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4317",
  }, /4317/);
  warned({ OTEL_DENO: "true", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, /no gRPC/);
  warned({ OTEL_DENO: "true", OTEL_EXPORTER_OTLP_ENDPOINT: "not a url" }, /not a URL/);
  assert.deepEqual(
    planOtelLaunch({
      TELEMETRY_ENABLED: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    }).warnings,
    [],
  );
});

/** A program that relaunches itself, then (as the child) runs `body`. */
function selfRelaunching(body: string): string {
  return `
import { planOtelLaunch, relaunchWithOtel } from ${JSON.stringify(LAUNCH)};
const plan = planOtelLaunch(Deno.env.toObject());
if (plan.action === "relaunch") {
  Deno.exit(await relaunchWithOtel(plan, {
    denoFlags: ["--quiet", "--config", ${
    JSON.stringify(CONFIG)
  }, "--allow-env", "--allow-run", "--allow-read"],
  }));
}
${body}
`;
}

async function withScript<T>(source: string, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "wb_relaunch_" });
  try {
    const file = `${dir}/main.ts`;
    await Deno.writeTextFile(file, source);
    return await fn(file);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A receiver so the relaunched child's exporter has somewhere to send. */
function sink() {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
    await r.body?.cancel();
    return new Response("{}", { headers: { "content-type": "application/json" } });
  });
  return { server, endpoint: `http://127.0.0.1:${server.addr.port}` };
}

function command(file: string, env: Record<string, string>, args: string[] = []) {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--config",
      CONFIG,
      "--allow-env",
      "--allow-run",
      "--allow-read",
      file,
      ...args,
    ],
    env: { OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", ...env },
    stdout: "piped",
    stderr: "piped",
  });
}

Deno.test("relaunchWithOtel() restarts the program with OTEL_DENO=true, its arguments, and its exit code", async () => {
  const { server, endpoint } = sink();
  try {
    await withScript(
      selfRelaunching(`
console.log(JSON.stringify({
  otel: Deno.env.get("OTEL_DENO"),
  service: Deno.env.get("OTEL_SERVICE_NAME"),
  kept: Deno.env.get("WB_KEPT"),
  args: Deno.args,
}));
Deno.exit(7);
`),
      async (file) => {
        const output = await command(file, {
          TELEMETRY_ENABLED: "true",
          OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
          WB_KEPT: "inherited",
        }, ["--namespace", "catalog"]).output();
        const stdout = new TextDecoder().decode(output.stdout).trim();
        assert.equal(output.code, 7, new TextDecoder().decode(output.stderr));
        assert.deepEqual(JSON.parse(stdout), {
          otel: "true",
          service: "wasm-broker",
          kept: "inherited",
          args: ["--namespace", "catalog"],
        });
      },
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("relaunchWithOtel() forwards SIGTERM so the child shuts down gracefully", async () => {
  const { server, endpoint } = sink();
  try {
    await withScript(
      selfRelaunching(`
Deno.addSignalListener("SIGTERM", () => {
  console.log("child got SIGTERM");
  Deno.exit(0);
});
console.log("ready");
setInterval(() => {}, 1000);
`),
      async (file) => {
        const child = command(file, {
          TELEMETRY_ENABLED: "true",
          OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        }).spawn();
        // A broken relaunch must fail the test, not hang it.
        const watchdog = setTimeout(() => child.kill("SIGKILL"), 30_000);
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let seen = "";
        while (!seen.includes("ready")) {
          const { value, done } = await reader.read();
          if (done) break;
          seen += value;
        }
        assert.ok(seen.includes("ready"), seen);
        child.kill("SIGTERM");
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          seen += value;
        }
        const status = await child.status;
        clearTimeout(watchdog);
        await child.stderr.cancel();
        assert.ok(seen.includes("child got SIGTERM"), seen);
        assert.equal(status.code, 0);
      },
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test({
  name: "a relaunched child dies with its parent even when the parent is SIGKILLed",
  ignore: !HAS_SETPRIV,
}, async () => {
  const { server, endpoint } = sink();
  try {
    await withScript(
      selfRelaunching(`
console.log("pid " + Deno.pid);
setInterval(() => {}, 1000);
`),
      async (file) => {
        const child = command(file, {
          TELEMETRY_ENABLED: "true",
          OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        }).spawn();
        // A broken relaunch must fail the test, not hang it.
        const watchdog = setTimeout(() => child.kill("SIGKILL"), 30_000);
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let seen = "";
        while (!/pid \d+/.test(seen)) {
          const { value, done } = await reader.read();
          if (done) break;
          seen += value;
        }
        const pid = Number(/pid (\d+)/.exec(seen)?.[1]);
        assert.ok(pid > 0 && pid !== child.pid, seen);
        child.kill("SIGKILL");
        await child.status;
        clearTimeout(watchdog);
        await reader.cancel();
        await child.stderr.cancel();
        const deadline = Date.now() + 20_000;
        while (alive(pid)) {
          assert.ok(Date.now() < deadline, `relaunched child ${pid} outlived its parent`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      },
    );
  } finally {
    await server.shutdown();
  }
});

/** Whether `pid` runs (a zombie counts as dead). */
function alive(pid: number): boolean {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return !/^State:\s+Z/m.test(status);
  } catch {
    return false;
  }
}
