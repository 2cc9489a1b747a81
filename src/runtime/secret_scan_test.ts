import assert from "node:assert/strict";
import { createSecretScanner, MIN_SECRET_BYTES, REDACTED, secretForms } from "./secret_scan.ts";

const SECRET = "s3cr3t/v@lue with space+plus";
const QUOTED = 'pa"ss\\wörd\u2028-é\n-token';
const encoder = new TextEncoder();

const hex = (s: string) =>
  Array.from(encoder.encode(s), (b) => b.toString(16).padStart(2, "0")).join("");
const base64 = (bytes: Uint8Array) =>
  btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
const urlSafe = (b64: string) => b64.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

/** Deterministic pseudo-random bytes (mulberry32), so tests never flake. */
function pseudoRandom(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    let t = (state = (state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (t ^ (t >>> 14)) & 0xff;
  }
  return out;
}

const FORMS: [string, string][] = [
  ["exact", SECRET],
  ["encodeURIComponent", encodeURIComponent(SECRET)],
  ["encodeURIComponent with lowercase escapes", "s3cr3t%2fv%40lue%20with%20space%2bplus"],
  ["encodeURI", encodeURI(SECRET)],
  ["form encoding (+ for spaces)", new URLSearchParams({ v: SECRET }).toString().slice(2)],
  ["encodeURIComponent with + for spaces", encodeURIComponent(SECRET).replaceAll("%20", "+")],
  ["every byte as %XX", hex(SECRET).replace(/../g, "%$&")],
  ["hex lowercase", hex(SECRET)],
  ["hex uppercase", hex(SECRET).toUpperCase()],
  ["hex in mixed case", hex(SECRET).replace(/[a-f]/, (c) => c.toUpperCase())],
  ["base64", btoa(SECRET)],
  ["base64 url-safe", urlSafe(btoa(SECRET))],
];

for (const [name, form] of FORMS) {
  Deno.test(`createSecretScanner() finds a secret written ${name} and redacts it`, () => {
    const scanner = createSecretScanner([SECRET]);
    const text = `before ${form} after`;
    assert.equal(scanner.found(text), true);
    const redacted = scanner.redact(text);
    assert.equal(redacted, `before ${REDACTED} after`);
    assert.equal(scanner.found(redacted), false);
  });
}

Deno.test("createSecretScanner() finds base64 at every alignment whatever the neighbouring bytes", () => {
  const secret = encoder.encode(SECRET);
  const scanner = createSecretScanner([SECRET]);
  for (const fill of [0x00, 0xff, 0x5a]) {
    for (let before = 0; before <= 5; before++) {
      for (let after = 0; after <= 4; after++) {
        const bytes = new Uint8Array(before + secret.length + after).fill(fill);
        bytes.set(secret, before);
        const std = base64(bytes);
        const where = `fill ${fill}, ${before} bytes before, ${after} after`;
        assert.equal(scanner.found(std), true, `standard, ${where}`);
        assert.equal(scanner.found(urlSafe(std)), true, `url-safe, ${where}`);
        assert.equal(scanner.found(scanner.redact(std)), false, `redacted, ${where}`);
      }
    }
  }
});

Deno.test("createSecretScanner() finds a secret with quotes, backslashes and unicode inside JSON", () => {
  const scanner = createSecretScanner([QUOTED]);
  const json = JSON.stringify({ value: QUOTED });
  assert.equal(json.includes(QUOTED), false, "the exact form is not in the JSON text");
  assert.equal(scanner.found(json), true);
  assert.equal(scanner.found(JSON.stringify([`x${QUOTED}y`])), true);
  assert.equal(scanner.redact(json), `{"value":"${REDACTED}"}`);
});

Deno.test("createSecretScanner() finds a secret in ASCII-only JSON with \\u escapes in either case", () => {
  const scanner = createSecretScanner([QUOTED]);
  const lower = 'pa\\"ss\\\\w\\u00f6rd\\u2028-\\u00e9\\n-token';
  assert.equal(JSON.parse(`"${lower}"`), QUOTED, "the test's escape is right");
  assert.equal(scanner.found(`{"v":"${lower}"}`), true);
  assert.equal(
    scanner.found(`{"v":"${lower.replaceAll("u00f6", "u00F6").replaceAll("u00e9", "u00E9")}"}`),
    true,
  );
});

Deno.test("createSecretScanner() finds a non-ASCII secret by its UTF-8 bytes in hex and base64", () => {
  const scanner = createSecretScanner([QUOTED]);
  assert.equal(scanner.found(hex(QUOTED)), true);
  assert.equal(scanner.found(base64(encoder.encode(`..${QUOTED}`))), true);
  assert.equal(scanner.found(encodeURIComponent(QUOTED)), true);
});

Deno.test("createSecretScanner() merges overlapping occurrences into one placeholder", () => {
  const scanner = createSecretScanner(["abcabcab-secret", "secret-tail-value"]);
  assert.equal(scanner.redact("x abcabcab-secret-tail-value y"), `x ${REDACTED} y`);
  assert.equal(scanner.redact("abcabcab-secretabcabcab-secret"), REDACTED);
  assert.equal(
    scanner.redact("1 abcabcab-secret 2 secret-tail-value 3"),
    `1 ${REDACTED} 2 ${REDACTED} 3`,
  );
});

Deno.test("createSecretScanner() scans values shorter than MIN_SECRET_BYTES only exactly", () => {
  const short = "k3y!"; // 4 bytes
  assert.ok(encoder.encode(short).length < MIN_SECRET_BYTES);
  const scanner = createSecretScanner([short]);
  assert.equal(scanner.found("the k3y! is here"), true);
  assert.equal(scanner.found(JSON.stringify({ v: `"${short}"` })), true);
  assert.equal(scanner.found(btoa(short)), false);
  assert.equal(scanner.found(hex(short)), false);
  assert.deepEqual(secretForms(short).foldCase, []);
});

Deno.test("createSecretScanner() scans a value of exactly MIN_SECRET_BYTES in every form", () => {
  const secret = "12345678";
  assert.equal(encoder.encode(secret).length, MIN_SECRET_BYTES);
  const scanner = createSecretScanner([secret]);
  assert.equal(scanner.found(btoa(`.${secret}`)), true);
  assert.equal(scanner.found(hex(secret)), true);
  for (const fragment of secretForms(secret).exact) {
    assert.ok(fragment.length >= MIN_SECRET_BYTES, `form "${fragment}" is long enough`);
  }
});

Deno.test("createSecretScanner() ignores empty values and finds nothing without secrets", () => {
  assert.equal(createSecretScanner([""]).found("anything at all"), false);
  assert.equal(createSecretScanner([]).redact("anything"), "anything");
});

Deno.test("createSecretScanner() does not flag a mebibyte of unrelated base64 and hex", () => {
  const scanner = createSecretScanner(["Zq8#long-enough", "12345678"]);
  const noise = pseudoRandom(768 * 1024, 42);
  const b64 = base64(noise);
  assert.equal(scanner.found(b64), false);
  assert.equal(scanner.found(urlSafe(b64)), false);
  assert.equal(
    scanner.found(Array.from(noise.subarray(0, 65536), (b) => b.toString(16)).join("")),
    false,
  );
});

Deno.test("createSecretScanner() handles a secret with a lone surrogate without throwing", () => {
  const secret = "abc\ud800defghij";
  const scanner = createSecretScanner([secret]);
  assert.equal(scanner.found(`x${secret}x`), true);
  assert.equal(scanner.found(JSON.stringify({ v: secret })), true);
  assert.equal(scanner.redact(`x${secret}x`), `x${REDACTED}x`);
});

Deno.test("createSecretScanner() keeps indexes right around letters whose lowercase is longer", () => {
  // "İ" lowercases to two code units; folding must not shift the redacted span.
  const scanner = createSecretScanner(["deadbeef-token"]);
  const text = `İİ ${hex("deadbeef-token").toUpperCase()} İ`;
  assert.equal(scanner.redact(text), `İİ ${REDACTED} İ`);
});

Deno.test("createSecretScanner() keeps indexes right around other non-ASCII letters", () => {
  const scanner = createSecretScanner(["deadbeef-token"]);
  const text = `ÄΣẞ𐐀 ${hex("deadbeef-token").toUpperCase()} ÖK`;
  assert.equal(scanner.redact(text), `ÄΣẞ𐐀 ${REDACTED} ÖK`);
});

Deno.test("createSecretScanner() finds any of several secrets and redacts each", () => {
  const scanner = createSecretScanner(["first-secret", "second-secret", "first-secret"]);
  assert.equal(scanner.found("only second-secret here"), true);
  // 12 bytes encode to 16 base64 characters with no padding: the whole encoding goes.
  assert.equal(
    scanner.redact(`a=${btoa("first-secret")} b=second-secret`),
    `a=${REDACTED} b=${REDACTED}`,
  );
});

Deno.test("SecretScanner.redactCut() also redacts the start of a secret at the end of cut text", () => {
  const scanner = createSecretScanner([SECRET]);
  for (let keep = 1; keep < SECRET.length; keep++) {
    const cut = `token=${SECRET.slice(0, keep)}`;
    assert.equal(scanner.redactCut(cut), `token=${REDACTED}`, `first ${keep} characters`);
  }
  const hexCut = `x=${hex(SECRET).slice(0, 9).toUpperCase()}`;
  assert.equal(scanner.redactCut(hexCut), `x=${REDACTED}`);
  const b64 = btoa(`..${SECRET}`);
  assert.match(scanner.redactCut(b64.slice(0, 12)), /^[A-Za-z0-9+/]{0,3}\[REDACTED\]$/);
  assert.equal(
    scanner.redactCut(`${SECRET} and ${SECRET.slice(0, 5)}`),
    `${REDACTED} and ${REDACTED}`,
  );
});

Deno.test("SecretScanner.redact() leaves the start of a secret at the end of uncut text alone", () => {
  const scanner = createSecretScanner([SECRET]);
  assert.equal(scanner.redact("token=s3cr"), "token=s3cr");
  assert.equal(scanner.redactCut("no secret here"), "no secret here");
});
