import assert from "node:assert/strict";
import { ioPlugin } from "../../plugins/io/mod.ts";
import { logPlugin } from "../../plugins/log/mod.ts";
import { mapSecretSource, secretsPlugin } from "../../plugins/secrets/mod.ts";
import { wat } from "../../tests/support/wat.ts";
import { SandboxPool } from "../sandbox/sandbox_pool.ts";
import { Runtime, scrubSecrets } from "./runtime.ts";
import { createSecretScanner, REDACTED } from "./secret_scan.ts";
import { emptyMetrics, type StepOutcome } from "./step_outcome.ts";

const SECRET = 'S3cr3t "v@lue"/with\\slash é!';
const OTHER = "other-secret-value";
const MANIFEST = {
  capabilities: { io: {}, log: {}, secrets: { keys: ["API_TOKEN", "OTHER"] } },
};

/**
 * A guest that reads secret API_TOKEN and carries it out. Its input is three
 * raw bytes: how to encode the secret, a base64 alignment digit, and where
 * to put it.
 *
 * Encodings: x exact, h/H hex lower/upper, b/u base64 standard/url-safe of
 * <digit> dots + secret + one dot, p encodeURIComponent, f form encoding,
 * j JSON-escaped. Places: l log "token=<enc>" (output {"ok":true}),
 * o output {"v":"<enc>"}, e io.fail {"message":"bad token <enc>"},
 * r output <enc> as it is, n neither (log "no secret here", output {"ok":true}).
 */
const LEAKY = wat(String.raw`(module
  (import "io" "read_input" (func $read_input (param i32 i32) (result i32)))
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))
  (import "io" "fail" (func $fail (param i32 i32) (result i32)))
  (import "log" "write" (func $log (param i32 i32 i32) (result i32)))
  (import "secrets" "get" (func $get (param i32 i32) (result i32)))
  (import "secrets" "read_result" (func $read_result (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 60000) "API_TOKEN")
  (data (i32.const 60016) "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
  (data (i32.const 60080) "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
  (data (i32.const 60144) "{\"ok\":true}")
  (data (i32.const 60160) "no secret here")
  (data (i32.const 60200) "token=")
  (data (i32.const 60210) "{\"v\":\"")
  (data (i32.const 60220) "\"}")
  (data (i32.const 60230) "{\"message\":\"bad token ")

  (func $copy (param $src i32) (param $len i32) (param $d i32) (result i32) (local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (i32.store8 (i32.add (local.get $d) (local.get $i))
        (i32.load8_u (i32.add (local.get $src) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.add (local.get $d) (local.get $len)))

  ;; $alpha is 87 for lowercase hex digits, 55 for uppercase
  (func $digit (param $n i32) (param $alpha i32) (result i32)
    (select (i32.add (local.get $n) (i32.const 48)) (i32.add (local.get $n) (local.get $alpha))
      (i32.lt_u (local.get $n) (i32.const 10))))

  (func $hex (param $src i32) (param $len i32) (param $d i32) (param $alpha i32) (result i32)
    (local $i i32) (local $b i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (local.set $b (i32.load8_u (i32.add (local.get $src) (local.get $i))))
      (i32.store8 (local.get $d) (call $digit (i32.shr_u (local.get $b) (i32.const 4)) (local.get $alpha)))
      (i32.store8 offset=1 (local.get $d) (call $digit (i32.and (local.get $b) (i32.const 15)) (local.get $alpha)))
      (local.set $d (i32.add (local.get $d) (i32.const 2)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $d))

  ;; Bytes encodeURIComponent (or, with $form, URLSearchParams) leaves as they are.
  (func $unreserved (param $b i32) (param $form i32) (result i32)
    (if (i32.and (i32.ge_u (local.get $b) (i32.const 48)) (i32.le_u (local.get $b) (i32.const 57)))
      (then (return (i32.const 1))))
    (if (i32.and (i32.ge_u (local.get $b) (i32.const 65)) (i32.le_u (local.get $b) (i32.const 90)))
      (then (return (i32.const 1))))
    (if (i32.and (i32.ge_u (local.get $b) (i32.const 97)) (i32.le_u (local.get $b) (i32.const 122)))
      (then (return (i32.const 1))))
    (if (i32.or (i32.or (i32.eq (local.get $b) (i32.const 45)) (i32.eq (local.get $b) (i32.const 95)))
                (i32.or (i32.eq (local.get $b) (i32.const 46)) (i32.eq (local.get $b) (i32.const 42))))
      (then (return (i32.const 1))))
    (if (local.get $form) (then (return (i32.const 0))))
    (i32.or (i32.or (i32.eq (local.get $b) (i32.const 33)) (i32.eq (local.get $b) (i32.const 126)))
            (i32.or (i32.eq (local.get $b) (i32.const 39))
                    (i32.or (i32.eq (local.get $b) (i32.const 40)) (i32.eq (local.get $b) (i32.const 41))))))

  (func $pct (param $src i32) (param $len i32) (param $d i32) (param $form i32) (result i32)
    (local $i i32) (local $b i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (local.set $b (i32.load8_u (i32.add (local.get $src) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (if (i32.and (local.get $form) (i32.eq (local.get $b) (i32.const 32))) (then
        (i32.store8 (local.get $d) (i32.const 43))
        (local.set $d (i32.add (local.get $d) (i32.const 1)))
        (br $next)))
      (if (call $unreserved (local.get $b) (local.get $form)) (then
        (i32.store8 (local.get $d) (local.get $b))
        (local.set $d (i32.add (local.get $d) (i32.const 1)))
        (br $next)))
      (i32.store8 (local.get $d) (i32.const 37))
      (i32.store8 offset=1 (local.get $d) (call $digit (i32.shr_u (local.get $b) (i32.const 4)) (i32.const 55)))
      (i32.store8 offset=2 (local.get $d) (call $digit (i32.and (local.get $b) (i32.const 15)) (i32.const 55)))
      (local.set $d (i32.add (local.get $d) (i32.const 3)))
      (br $next)))
    (local.get $d))

  ;; Escapes quotes and backslashes (the secret has no control characters).
  (func $json (param $src i32) (param $len i32) (param $d i32) (result i32) (local $i i32) (local $b i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (local.set $b (i32.load8_u (i32.add (local.get $src) (local.get $i))))
      (if (i32.or (i32.eq (local.get $b) (i32.const 34)) (i32.eq (local.get $b) (i32.const 92))) (then
        (i32.store8 (local.get $d) (i32.const 92))
        (local.set $d (i32.add (local.get $d) (i32.const 1)))))
      (i32.store8 (local.get $d) (local.get $b))
      (local.set $d (i32.add (local.get $d) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $d))

  ;; Base64 with padding; bytes past $len are zero (a fresh instance's memory).
  (func $b64 (param $src i32) (param $len i32) (param $d i32) (param $table i32) (result i32)
    (local $i i32) (local $n i32) (local $rem i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (local.set $n (i32.or (i32.or
        (i32.shl (i32.load8_u (i32.add (local.get $src) (local.get $i))) (i32.const 16))
        (i32.shl (i32.load8_u offset=1 (i32.add (local.get $src) (local.get $i))) (i32.const 8)))
        (i32.load8_u offset=2 (i32.add (local.get $src) (local.get $i)))))
      (i32.store8 (local.get $d)
        (i32.load8_u (i32.add (local.get $table) (i32.shr_u (local.get $n) (i32.const 18)))))
      (i32.store8 offset=1 (local.get $d)
        (i32.load8_u (i32.add (local.get $table) (i32.and (i32.shr_u (local.get $n) (i32.const 12)) (i32.const 63)))))
      (i32.store8 offset=2 (local.get $d)
        (i32.load8_u (i32.add (local.get $table) (i32.and (i32.shr_u (local.get $n) (i32.const 6)) (i32.const 63)))))
      (i32.store8 offset=3 (local.get $d)
        (i32.load8_u (i32.add (local.get $table) (i32.and (local.get $n) (i32.const 63)))))
      (local.set $d (i32.add (local.get $d) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 3)))
      (br $next)))
    (local.set $rem (i32.rem_u (local.get $len) (i32.const 3)))
    (if (i32.eq (local.get $rem) (i32.const 1)) (then
      (i32.store8 (i32.sub (local.get $d) (i32.const 2)) (i32.const 61))
      (i32.store8 (i32.sub (local.get $d) (i32.const 1)) (i32.const 61))))
    (if (i32.eq (local.get $rem) (i32.const 2)) (then
      (i32.store8 (i32.sub (local.get $d) (i32.const 1)) (i32.const 61))))
    (local.get $d))

  (func $encode (param $mode i32) (param $shift i32) (param $len i32) (param $d i32) (result i32)
    (local $i i32)
    (if (i32.eq (local.get $mode) (i32.const 120)) (then
      (return (call $copy (i32.const 4096) (local.get $len) (local.get $d)))))
    (if (i32.eq (local.get $mode) (i32.const 104)) (then
      (return (call $hex (i32.const 4096) (local.get $len) (local.get $d) (i32.const 87)))))
    (if (i32.eq (local.get $mode) (i32.const 72)) (then
      (return (call $hex (i32.const 4096) (local.get $len) (local.get $d) (i32.const 55)))))
    (if (i32.eq (local.get $mode) (i32.const 112)) (then
      (return (call $pct (i32.const 4096) (local.get $len) (local.get $d) (i32.const 0)))))
    (if (i32.eq (local.get $mode) (i32.const 102)) (then
      (return (call $pct (i32.const 4096) (local.get $len) (local.get $d) (i32.const 1)))))
    (if (i32.eq (local.get $mode) (i32.const 106)) (then
      (return (call $json (i32.const 4096) (local.get $len) (local.get $d)))))
    ;; base64 of <shift> dots + secret + one dot, built at 8192
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $shift)))
      (i32.store8 (i32.add (i32.const 8192) (local.get $i)) (i32.const 46))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.store8 (call $copy (i32.const 4096) (local.get $len) (i32.add (i32.const 8192) (local.get $shift)))
      (i32.const 46))
    (call $b64 (i32.const 8192) (i32.add (i32.add (local.get $shift) (local.get $len)) (i32.const 1))
      (local.get $d)
      (select (i32.const 60080) (i32.const 60016) (i32.eq (local.get $mode) (i32.const 117)))))

  (func (export "run") (result i32)
    (local $len i32) (local $mode i32) (local $shift i32) (local $action i32) (local $d i32)
    (drop (call $read_input (i32.const 0) (i32.const 3)))
    (local.set $mode (i32.load8_u (i32.const 0)))
    (local.set $shift (i32.sub (i32.load8_u (i32.const 1)) (i32.const 48)))
    (local.set $action (i32.load8_u (i32.const 2)))
    (local.set $len (call $get (i32.const 60000) (i32.const 9)))
    (if (i32.lt_s (local.get $len) (i32.const 0)) (then (unreachable)))
    (drop (call $read_result (i32.const 4096) (local.get $len)))
    (if (i32.eq (local.get $action) (i32.const 110)) (then
      (drop (call $log (i32.const 1) (i32.const 60160) (i32.const 14)))
      (drop (call $write (i32.const 60144) (i32.const 11)))
      (return (i32.const 0))))
    (local.set $d (i32.const 12288))
    (if (i32.eq (local.get $action) (i32.const 108)) (then
      (local.set $d (call $copy (i32.const 60200) (i32.const 6) (local.get $d)))))
    (if (i32.eq (local.get $action) (i32.const 111)) (then
      (local.set $d (call $copy (i32.const 60210) (i32.const 6) (local.get $d)))))
    (if (i32.eq (local.get $action) (i32.const 101)) (then
      (local.set $d (call $copy (i32.const 60230) (i32.const 22) (local.get $d)))))
    (local.set $d (call $encode (local.get $mode) (local.get $shift) (local.get $len) (local.get $d)))
    (if (i32.or (i32.eq (local.get $action) (i32.const 111)) (i32.eq (local.get $action) (i32.const 101)))
      (then (local.set $d (call $copy (i32.const 60220) (i32.const 2) (local.get $d)))))
    (if (i32.eq (local.get $action) (i32.const 108)) (then
      (drop (call $log (i32.const 1) (i32.const 12288) (i32.sub (local.get $d) (i32.const 12288))))
      (drop (call $write (i32.const 60144) (i32.const 11)))))
    (if (i32.eq (local.get $action) (i32.const 101)) (then
      (drop (call $fail (i32.const 12288) (i32.sub (local.get $d) (i32.const 12288))))))
    (if (i32.or (i32.eq (local.get $action) (i32.const 111)) (i32.eq (local.get $action) (i32.const 114)))
      (then (drop (call $write (i32.const 12288) (i32.sub (local.get $d) (i32.const 12288))))))
    (i32.const 0)))`);

const encoder = new TextEncoder();
const hex = (s: string) =>
  Array.from(encoder.encode(s), (b) => b.toString(16).padStart(2, "0")).join("");
const binary = (s: string) => Array.from(encoder.encode(s), (b) => String.fromCharCode(b)).join("");

/** The guest's own base64 of <shift> dots + secret + one dot, computed independently. */
const guestBase64 = (shift: number, urlSafe: boolean) => {
  const b64 = btoa(".".repeat(shift) + binary(SECRET) + ".");
  return urlSafe ? b64.replaceAll("+", "-").replaceAll("/", "_") : b64;
};

/** Forms of SECRET computed without the scanner, to check the scanner's verdicts. */
const INDEPENDENT_FORMS = [
  SECRET,
  JSON.stringify(SECRET).slice(1, -1),
  hex(SECRET),
  hex(SECRET).toUpperCase(),
  encodeURIComponent(SECRET),
  new URLSearchParams({ v: SECRET }).toString().slice(2),
  // the middle of each base64 the guest writes: bits of the secret only
  ...[0, 1, 2].flatMap((s) =>
    [guestBase64(s, false), guestBase64(s, true)].map((b) => b.slice(4, -4))
  ),
];

/** Asserts that no form of SECRET appears anywhere in the outcome. */
function assertNoSecret(outcome: StepOutcome): void {
  const text = JSON.stringify(outcome);
  for (const form of INDEPENDENT_FORMS) {
    assert.equal(text.includes(form), false, `outcome carries ${JSON.stringify(form)}: ${text}`);
  }
  assert.equal(createSecretScanner([SECRET]).found(text), false, text);
}

async function withRuntime(fn: (runtime: Runtime) => Promise<void>): Promise<void> {
  const runtime = new Runtime({
    plugins: [
      ioPlugin(),
      logPlugin(),
      secretsPlugin({ source: mapSecretSource({ API_TOKEN: SECRET, OTHER }) }),
    ],
  });
  try {
    await fn(runtime);
  } finally {
    await runtime.close();
  }
}

const leak = (mode: string, shift: number, place: string) =>
  encoder.encode(`${mode}${shift}${place}`);

Deno.test("Runtime.execute() leaves a step that keeps its secret to itself untouched", async () => {
  await withRuntime(async (runtime) => {
    const guest = await runtime.load(LEAKY, MANIFEST);
    const outcome = await runtime.execute(guest, leak("x", 0, "n"));
    assert.equal(outcome.status, "completed", JSON.stringify(outcome.error));
    assert.deepEqual(outcome.result, { ok: true });
    assert.equal(outcome.logs[0].message, "no secret here");
    assert.equal(outcome.metrics.host_calls["secrets.get"], 1);
  });
});

for (
  const [mode, name] of [["j", "JSON-escaped"], ["x", "exact"], ["h", "hex"], [
    "H",
    "upper-case hex",
  ], [
    "p",
    "URL-encoded",
  ], ["f", "form-encoded"]]
) {
  Deno.test(`Runtime.execute() redacts a secret a guest logs ${name}`, async () => {
    await withRuntime(async (runtime) => {
      const guest = await runtime.load(LEAKY, MANIFEST);
      const outcome = await runtime.execute(guest, leak(mode, 0, "l"));
      assert.equal(outcome.status, "completed", JSON.stringify(outcome.error));
      assert.deepEqual(outcome.result, { ok: true });
      assert.equal(outcome.logs.length, 1);
      assert.equal(outcome.logs[0].message, `token=${REDACTED}`);
      assertNoSecret(outcome);
    });
  });
}

Deno.test("Runtime.execute() redacts a secret a guest logs in base64 at every alignment", async () => {
  await withRuntime(async (runtime) => {
    const guest = await runtime.load(LEAKY, MANIFEST);
    for (const mode of ["b", "u"]) {
      for (const shift of [0, 1, 2]) {
        const outcome = await runtime.execute(guest, leak(mode, shift, "l"));
        assert.equal(outcome.status, "completed");
        // Only the characters that mix in the dots around the secret may stay.
        assert.match(
          outcome.logs[0].message,
          /^token=[A-Za-z0-9+/_-]{0,3}\[REDACTED\][A-Za-z0-9+/_=-]{0,4}$/,
          `${mode}${shift}`,
        );
        assertNoSecret(outcome);
      }
    }
  });
});

for (
  const [mode, name] of [["j", "JSON-escaped"], ["h", "as hex"], ["b", "in base64"], [
    "p",
    "URL-encoded",
  ]]
) {
  Deno.test(`Runtime.execute() fails a guest that echoes a secret ${name} to its output with secret_leak`, async () => {
    await withRuntime(async (runtime) => {
      const guest = await runtime.load(LEAKY, MANIFEST);
      const outcome = await runtime.execute(guest, leak(mode, 1, "o"));
      assert.equal(outcome.status, "failed");
      assert.equal(outcome.result, null);
      assert.equal(outcome.error?.code, "secret_leak");
      assert.equal(outcome.error?.retryable, false);
      assert.equal(outcome.error?.details?.where, "result");
      assert.equal(outcome.metrics.host_calls["secrets.get"], 1, "metrics are kept");
      assertNoSecret(outcome);
    });
  });
}

Deno.test("Runtime.execute() fails a guest that puts a secret in io.fail's message with secret_leak", async () => {
  await withRuntime(async (runtime) => {
    const guest = await runtime.load(LEAKY, MANIFEST);
    for (const mode of ["j", "h", "p"]) {
      const outcome = await runtime.execute(guest, leak(mode, 0, "e"));
      assert.equal(outcome.status, "failed");
      assert.equal(outcome.error?.code, "secret_leak", mode);
      assert.equal(outcome.error?.details?.where, "error");
      assertNoSecret(outcome);
    }
  });
});

Deno.test("Runtime.execute() fails a step whose declared secret is too short to protect", async () => {
  const runtime = new Runtime({
    plugins: [
      ioPlugin(),
      logPlugin(),
      secretsPlugin({ source: mapSecretSource({ API_TOKEN: "1234" }) }),
    ],
  });
  try {
    const guest = await runtime.load(LEAKY, MANIFEST);
    const outcome = await runtime.execute(guest, leak("x", 0, "o"));
    assert.equal(outcome.status, "failed");
    assert.equal(outcome.error?.code, "policy_fault");
    assert.equal(outcome.error?.details?.reason, "secret_too_short");
    assert.equal(outcome.error?.details?.capability, "secrets");
    assert.ok(!JSON.stringify(outcome).includes("1234"));
  } finally {
    await runtime.close();
  }
});

const baseOutcome = (over: Partial<StepOutcome>): StepOutcome => ({
  status: "completed",
  result: { ok: true },
  error: null,
  metrics: emptyMetrics(),
  logs: [],
  ...over,
});

const record = (message: string) => ({
  level: "info" as const,
  message,
  time: 0,
  step_id: "s",
  handler: "h",
  correlation_id: "c",
});

Deno.test("scrubSecrets() returns an outcome without secrets unchanged", () => {
  const outcome = baseOutcome({ logs: [record("hello")] });
  assert.deepEqual(scrubSecrets(outcome, [SECRET, OTHER]), outcome);
});

Deno.test("scrubSecrets() redacts every secret from log records and keeps the rest", () => {
  const outcome = baseOutcome({
    logs: [record(`a ${OTHER} b ${btoa(binary(SECRET))} c`), record("clean")],
  });
  const scrubbed = scrubSecrets(outcome, [SECRET, OTHER]);
  assert.equal(scrubbed.status, "completed");
  assert.equal(scrubbed.logs[0].message, `a ${REDACTED} b ${REDACTED} c`);
  assert.equal(scrubbed.logs[1].message, "clean");
  assert.equal(outcome.logs[0].message.includes(OTHER), true, "the input is not mutated");
});

Deno.test("scrubSecrets() withholds a result that carries a secret", () => {
  const outcome = baseOutcome({ result: { nested: [{ v: `x${OTHER}y` }] } });
  const scrubbed = scrubSecrets(outcome, [OTHER]);
  assert.equal(scrubbed.status, "failed");
  assert.equal(scrubbed.result, null);
  assert.equal(scrubbed.error?.code, "secret_leak");
  assert.equal(JSON.stringify(scrubbed).includes(OTHER), false);
});

Deno.test("scrubSecrets() replaces an error that carries a secret in its message or details", () => {
  for (
    const error of [
      { code: "handler_error" as const, message: `bad ${OTHER}`, retryable: true },
      {
        code: "handler_error" as const,
        message: "bad",
        retryable: false,
        details: { guest_details: { token: hex(OTHER) } },
      },
    ]
  ) {
    const scrubbed = scrubSecrets(baseOutcome({ status: "failed", result: null, error }), [OTHER]);
    assert.equal(scrubbed.error?.code, "secret_leak");
    assert.equal(scrubbed.error?.retryable, false);
    assert.deepEqual(scrubbed.error?.details, { where: "error", placeholder: REDACTED });
    assert.equal(createSecretScanner([OTHER]).found(JSON.stringify(scrubbed)), false);
  }
});

/** A runtime whose guests run in one sandbox process, with the test's secrets. */
async function withSandboxRuntime(fn: (runtime: Runtime) => Promise<void>): Promise<void> {
  let pool: SandboxPool | undefined;
  const runtime = new Runtime({
    plugins: [
      ioPlugin(),
      logPlugin(),
      secretsPlugin({ source: mapSecretSource({ API_TOKEN: SECRET, OTHER }) }),
    ],
    executor: (registry) =>
      pool = new SandboxPool({ registry, prewarm: 1, maxProcesses: 1, onLog: () => {} }),
  });
  try {
    await pool!.ready();
    await fn(runtime);
  } finally {
    await runtime.close();
  }
}

Deno.test("Runtime.execute() scrubs a secret the same way when the guest runs in a sandbox process", async () => {
  await withSandboxRuntime(async (runtime) => {
    const guest = await runtime.load(LEAKY, MANIFEST);
    const logged = await runtime.execute(guest, leak("h", 0, "l"));
    assert.equal(logged.status, "completed", JSON.stringify(logged.error));
    assert.equal(logged.logs[0].message, `token=${REDACTED}`);
    const echoed = await runtime.execute(guest, leak("j", 0, "o"));
    assert.equal(echoed.error?.code, "secret_leak");
    assertNoSecret(logged);
    assertNoSecret(echoed);
  });
});

/** A guest that writes `output` as it is (a WAT data segment of its UTF-8 bytes). */
function writes(output: string): Uint8Array {
  const bytes = [...new TextEncoder().encode(output)];
  const data = bytes.map((b) => "\\" + b.toString(16).padStart(2, "0")).join("");
  return wat(`(module
    (import "io" "write_output" (func $write (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "${data}")
    (func (export "run") (result i32)
      (drop (call $write (i32.const 0) (i32.const ${bytes.length}))) (i32.const 0)))`);
}

Deno.test("Runtime.execute() in a sandbox: the result is what the guest's bytes parse to, secrets found under any escaping", async () => {
  await withSandboxRuntime(async (runtime) => {
    // The sandbox passes the guest's own bytes on; the broker's parse gives the value.
    const text = ' {"a": "\\u0041\\u00e9", "n": 1.0, "big": 12345678901234567890, "a": 2}\n';
    const plain = await runtime.execute(
      await runtime.load(writes(text), { capabilities: { io: {} } }),
      {},
    );
    assert.equal(plain.status, "completed", JSON.stringify(plain.error));
    assert.deepEqual(plain.result, JSON.parse(text));
    // Every character of the secret escaped: still found, since the check reads the parsed value.
    const escaped = [...SECRET].map((c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"))
      .join("");
    const leaked = await runtime.execute(
      await runtime.load(writes(`{"v":"${escaped}"}`), MANIFEST),
      {},
    );
    assert.equal(leaked.status, "failed");
    assert.equal(leaked.error?.code, "secret_leak");
    assertNoSecret(leaked);
  });
});

const IO_ONLY = wat(`(module
  (import "io" "input_len" (func (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32) (i32.const 0)))`);

Deno.test("Runtime.load() validates a raw manifest even when it looks parsed", async () => {
  const runtime = new Runtime({ plugins: [ioPlugin(), logPlugin()] });
  // memory: 256 is 256 bytes here (below one page), not 256 pages.
  const lookalike = { capabilities: { io: {} }, limits: { memory: 256, log: { line_bytes: 100 } } };
  await assert.rejects(() => runtime.load(IO_ONLY, lookalike), { code: "manifest_invalid" });
  const parsed = runtime.parseManifest({ capabilities: { io: {} } });
  assert.equal((await runtime.load(IO_ONLY, parsed)).manifest, parsed);
});
