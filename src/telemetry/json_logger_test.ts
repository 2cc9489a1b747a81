import assert from "node:assert/strict";
import { WasmBrokerError } from "../errors.ts";
import { createSecretScanner } from "../runtime/secret_scan.ts";
import {
  createJsonLogger,
  type JsonLoggerOptions,
  parseLogLevel,
  writerSink,
} from "./json_logger.ts";

function capture(options: JsonLoggerOptions = {}) {
  const lines: string[] = [];
  const log = createJsonLogger({
    level: "debug",
    now: () => Date.UTC(2026, 0, 2, 3, 4, 5, 678),
    sink: (line) => lines.push(line),
    ...options,
  });
  return { log, lines, records: () => lines.map((l) => JSON.parse(l)) };
}

Deno.test("a line is level, time, msg, the correlation ids, then fields, as one JSON object", () => {
  const { log, lines } = capture();
  log.child({ step_uuid: "s-1", namespace: "catalog", correlation_id: "c-1" })
    .child({ task_uuid: "t-1" })
    .info("step claimed", { attempt: 2, ok: true, none: undefined, nothing: null });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0].includes("\n"));
  assert.equal(
    lines[0],
    '{"level":"info","time":"2026-01-02T03:04:05.678Z","msg":"step claimed","correlation_id":"c-1",' +
      '"task_uuid":"t-1","step_uuid":"s-1","namespace":"catalog","attempt":2,"ok":true,"nothing":null}',
  );
});

Deno.test("child loggers bind fields without changing their parent; call fields win", () => {
  const { log, records } = capture();
  const step = log.child({ correlation_id: "c-1", phase: "claim" });
  step.info("a", { phase: "report" });
  log.info("b");
  const [a, b] = records();
  assert.equal(a.correlation_id, "c-1");
  assert.equal(a.phase, "report");
  assert.equal(b.correlation_id, undefined);
  assert.equal(b.phase, undefined);
});

Deno.test("fields cannot replace level, time or msg", () => {
  const { log, records } = capture();
  log.warn("real", { level: "debug", time: "never", msg: "fake" });
  const [r] = records();
  assert.equal(r.level, "warn");
  assert.equal(r.msg, "real");
  assert.equal(r.time, "2026-01-02T03:04:05.678Z");
  assert.equal(r.field_level, "debug");
  assert.equal(r.field_msg, "fake");
});

Deno.test("the level filter drops lower levels; enabled() says so", () => {
  const { log, records } = capture({ level: "warn" });
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(records().map((r) => r.level), ["warn", "error"]);
  assert.equal(log.enabled("info"), false);
  assert.equal(log.enabled("error"), true);
  assert.equal(log.child({ a: 1 }).level, "warn");
});

Deno.test("parseLogLevel() reads LOG_LEVEL spellings", () => {
  assert.equal(parseLogLevel("DEBUG"), "debug");
  assert.equal(parseLogLevel(" warning "), "warn");
  assert.equal(parseLogLevel("trace"), "debug");
  assert.equal(parseLogLevel("error"), "error");
  assert.equal(parseLogLevel("loud"), undefined);
  assert.equal(parseLogLevel(undefined), undefined);
});

Deno.test("the default level comes from LOG_LEVEL; a bad value falls back to info with a warning", () => {
  const before = Deno.env.get("LOG_LEVEL");
  try {
    Deno.env.set("LOG_LEVEL", "error");
    let lines: string[] = [];
    createJsonLogger({ sink: (l) => lines.push(l) }).warn("dropped");
    assert.deepEqual(lines, []);

    Deno.env.set("LOG_LEVEL", "chatty");
    lines = [];
    const log = createJsonLogger({ sink: (l) => lines.push(l) });
    assert.equal(log.level, "info");
    assert.equal(lines.length, 1);
    const warning = JSON.parse(lines[0]);
    assert.equal(warning.level, "warn");
    assert.equal(warning.value, "chatty");

    Deno.env.delete("LOG_LEVEL");
    assert.equal(createJsonLogger({ sink: () => {} }).level, "info");
  } finally {
    if (before === undefined) Deno.env.delete("LOG_LEVEL");
    else Deno.env.set("LOG_LEVEL", before);
  }
});

Deno.test("cycles, bigints, errors, maps and odd values never make logging throw", () => {
  const { log, records } = capture();
  const cyclic: Record<string, unknown> = { name: "loop" };
  cyclic.self = cyclic;
  cyclic.list = [cyclic, 1n];
  const shared = { x: 1 };
  const error = new WasmBrokerError("timeout", "late", {
    retryable: true,
    details: { timeout_ms: 50 },
    cause: new Error("inner"),
  });
  log.error("weird", {
    cyclic,
    shared: [shared, shared], // shared, not circular: written twice
    big: 123n,
    error,
    map: new Map<unknown, unknown>([["k", 1n]]),
    set: new Set([1, 2]),
    date: new Date(0),
    bad_date: new Date(NaN),
    nan: NaN,
    inf: -Infinity,
    fn: () => 1,
    sym: Symbol("s"),
    bytes: new Uint8Array(3),
    throwing_getter: {
      get boom() {
        throw new Error("getter");
      },
    },
    throwing_to_json: {
      toJSON() {
        throw new Error("toJSON");
      },
    },
    deep: JSON.parse("[".repeat(30) + "]".repeat(30)),
  });
  const [r] = records();
  assert.deepEqual(r.cyclic, { name: "loop", self: "[Circular]", list: ["[Circular]", "1"] });
  assert.deepEqual(r.shared, [{ x: 1 }, { x: 1 }]);
  assert.equal(r.big, "123");
  assert.equal(r.error.name, "WasmBrokerError");
  assert.equal(r.error.message, "late");
  assert.equal(r.error.code, "timeout");
  assert.deepEqual(r.error.details, { timeout_ms: 50 });
  assert.equal(r.error.cause.message, "inner");
  assert.equal(typeof r.error.stack, "string");
  assert.deepEqual(r.map, [["k", "1"]]);
  assert.deepEqual(r.set, [1, 2]);
  assert.equal(r.date, "1970-01-01T00:00:00.000Z");
  assert.equal(r.bad_date, "Invalid Date");
  assert.equal(r.nan, "NaN");
  assert.equal(r.inf, "-Infinity");
  assert.equal("fn" in r, false);
  assert.equal(r.sym, "Symbol(s)");
  assert.equal(r.bytes, "[Uint8Array 3 bytes]");
  assert.deepEqual(r.throwing_getter, { boom: "[getter threw]" });
  assert.equal(r.throwing_to_json, "[toJSON threw]");
  assert.ok(JSON.stringify(r.deep).includes("[Depth]"));
});

Deno.test("a throwing Proxy, a throwing clock and a throwing sink are survived", () => {
  const hostile = new Proxy({}, {
    ownKeys() {
      throw new Error("no keys");
    },
  });
  const lines: string[] = [];
  const log = createJsonLogger({
    level: "info",
    now: () => {
      throw new Error("clock");
    },
    sink: (line) => lines.push(line),
  });
  log.info("proxy", { hostile });
  assert.equal(JSON.parse(lines[0]).hostile, "[unserializable]");
  assert.ok(!Number.isNaN(Date.parse(JSON.parse(lines[0]).time)));

  const broken = createJsonLogger({
    level: "info",
    sink: () => {
      throw new Error("EPIPE");
    },
  });
  broken.info("nobody hears this"); // must not throw
});

Deno.test("redact is applied to every string key and value, and its failure withholds the line", () => {
  const secret = "p4ssw0rd-for-the-db";
  const scanner = createSecretScanner([secret]);
  const { log, lines } = capture({ redact: (t) => scanner.redact(t) });
  log.info(`connecting with ${secret}`, {
    url: `postgres://u:${secret}@h/db`,
    nested: { [secret]: [`x${btoa(secret)}`] },
    error: new Error(`auth failed for ${secret}`),
  });
  assert.ok(!lines[0].includes(secret));
  assert.ok(!lines[0].includes(btoa(secret)));
  const r = JSON.parse(lines[0]);
  assert.equal(r.msg, "connecting with [REDACTED]");
  assert.equal(r.url, "postgres://u:[REDACTED]@h/db");
  assert.deepEqual(r.nested, { "[REDACTED]": ["x[REDACTED]"] });

  const failing = capture({
    redact: () => {
      throw new Error("scanner broke");
    },
  });
  failing.log.info(`msg with ${secret}`);
  assert.ok(!failing.lines[0].includes(secret));
  assert.equal(JSON.parse(failing.lines[0]).msg, "[message withheld: redaction failed]");
});

Deno.test("the default sink writes whole lines to stderr", async () => {
  const script = `
import { createJsonLogger } from ${
    JSON.stringify(new URL("./json_logger.ts", import.meta.url).href)
  };
const log = createJsonLogger({ level: "info" });
for (let i = 0; i < 200; i++) log.info("line", { i, pad: "x".repeat(1000) });
`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0);
  assert.equal(new TextDecoder().decode(output.stdout), "");
  const lines = new TextDecoder().decode(output.stderr).trimEnd().split("\n");
  assert.equal(lines.length, 200);
  lines.forEach((line, i) => assert.equal(JSON.parse(line).i, i));
});

Deno.test("writerSink: writes each line and its newline whole, through short writes", () => {
  const bytes: number[] = [];
  let calls = 0;
  // A writer that takes at most 3 bytes a call, as a pipe under pressure may.
  const sink = writerSink({
    writeSync(p: Uint8Array) {
      const n = Math.min(3, p.length);
      bytes.push(...p.subarray(0, n));
      calls++;
      return n;
    },
  });
  sink('{"msg":"é"}');
  sink("two");
  assert.equal(new TextDecoder().decode(new Uint8Array(bytes)), '{"msg":"é"}\ntwo\n');
  assert.equal(calls, 7); // 13 bytes, then 4
});
