/**
 * A stand-in OpenTelemetry collector for benches: accepts OTLP/HTTP exports
 * (`POST /v1/traces`, `/v1/metrics`, `/v1/logs`, protobuf or JSON) on
 * loopback, answers each with an empty success, and counts what arrived. It
 * runs as a process of its own, so its CPU is not counted as the broker's.
 * On SIGINT or SIGTERM it prints what it received and exits.
 *
 * Command (then run the bench with `OTEL_DENO=true`; docs/performance.md):
 *
 *   deno run --allow-net bench/support/otlp_sink.ts [--port 4318]
 *
 * @module
 */
import { countFlag } from "./bench_flags.ts";

const counts = new Map<string, { requests: number; bytes: number }>();

const server = Deno.serve(
  { hostname: "127.0.0.1", port: countFlag("port", 4318), onListen: () => {} },
  async (request) => {
    const path = new URL(request.url).pathname;
    if (request.method !== "POST") return new Response("POST OTLP exports here\n", { status: 405 });
    const body = new Uint8Array(await request.arrayBuffer());
    const entry = counts.get(path) ?? { requests: 0, bytes: 0 };
    entry.requests++;
    entry.bytes += body.length;
    counts.set(path, entry);
    // An empty Export*ServiceResponse: nothing rejected.
    const json = (request.headers.get("content-type") ?? "").includes("json");
    return json
      ? new Response("{}", { headers: { "content-type": "application/json" } })
      : new Response(new Uint8Array(0), { headers: { "content-type": "application/x-protobuf" } });
  },
);
console.error(`otlp sink: listening on http://127.0.0.1:${server.addr.port}`);

const stop = async () => {
  await server.shutdown();
  const summary = [...counts].map(([path, c]) =>
    `${path} ${c.requests} requests, ${c.bytes} bytes`
  );
  console.error(`otlp sink: received ${summary.length ? summary.join("; ") : "nothing"}`);
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
