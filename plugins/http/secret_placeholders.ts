/**
 * Secret placeholders of the `http` capability: a guest writes
 * `${secrets.NAME}` in a request's URL, header values or body, and the host
 * puts the value in just before sending. The guest never holds the value.
 *
 * - **Broker half** ({@link prepareSecretPlaceholders}): the keys in
 *   `capabilities.http.secrets` are resolved with the same `SecretSource`
 *   the `secrets` capability uses, and the values are marked sensitive, so
 *   the runtime scrubs logs and fails a step whose result or error carries
 *   one (`secret_leak`).
 * - **Sandbox half** ({@link StepSecrets}): substitutes placeholders
 *   (undeclared key: deny `secret_undeclared`; declared but without a value:
 *   `secret_missing`), keeps values out of the error messages the guest can
 *   read (`http.last_error`), and refuses to hand the guest a response that
 *   carries a value: the step fails with `secret_leak`.
 *
 * Encodings: in the URL a value is percent-encoded (every byte but RFC 3986
 * unreserved characters), so it cannot change the URL's structure; in a
 * header it goes in as it is and must be printable ASCII; in a body whose
 * `content-type` is JSON (`application/json`, `*+json`) it is escaped as
 * the inside of a JSON string, elsewhere it goes in as it is. `body_base64`
 * is never searched.
 *
 * @module
 */
import type { PreparedStepData } from "../../src/capability/capability_plugin.ts";
import { GuestFault, WasmBrokerError } from "../../src/errors.ts";
import { createSecretScanner, REDACTED, secretForms } from "../../src/runtime/secret_scan.ts";
import { MIN_SECRET_BYTES, type SecretSource } from "../secrets/mod.ts";
import type { GuestResponse } from "./http_exchange.ts";

/** A placeholder: `${secrets.` + a key name (secrets capability grammar) + `}`. */
export const SECRET_PLACEHOLDER: RegExp = /\$\{secrets\.([A-Z_][A-Z0-9_]*)\}/g;

const encoder = new TextEncoder();
// Printable ASCII and horizontal tab, as header_policy.ts requires.
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const JSON_MEDIA = /^\s*(?:application\/json|[^\s/;]+\/[^\s;]+\+json)\s*(?:;|$)/i;

/** What the broker half hands the sandbox half (`ctx.data` of `http`). */
export interface SecretPlaceholderData {
  /** Declared key → value; keys the source has no value for are absent. */
  values: Record<string, string>;
}

/**
 * Broker half: resolves the declared keys. Values shorter than
 * `MIN_SECRET_BYTES` are refused (the runtime could not keep them out of
 * step output), as the `secrets` capability does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapSecretSource } from "../secrets/mod.ts";
 * import { prepareSecretPlaceholders } from "./secret_placeholders.ts";
 * const prepared = await prepareSecretPlaceholders(["API_TOKEN"], mapSecretSource({ API_TOKEN: "tok-123456" }));
 * assert.deepEqual(prepared, { data: { values: { API_TOKEN: "tok-123456" } }, sensitive: ["tok-123456"] });
 * ```
 */
export async function prepareSecretPlaceholders(
  keys: readonly string[],
  source: SecretSource,
): Promise<PreparedStepData> {
  if (keys.length === 0) return {};
  const values: Record<string, string> = {};
  const sensitive: string[] = [];
  for (const key of keys) {
    const value = await readSecret(source, key);
    if (value === undefined) continue;
    values[key] = value;
    sensitive.push(value);
  }
  const data: SecretPlaceholderData = { values };
  return { data, sensitive };
}

async function readSecret(source: SecretSource, key: string): Promise<string | undefined> {
  let value: unknown;
  try {
    value = await source.get(key);
  } catch (cause) {
    // The cause stays attached for operators; its text may quote the store, so it is not copied.
    throw new WasmBrokerError(
      "internal",
      `Cannot read secret "${key}" for capabilities.http.secrets as the secret source failed`,
      { cause, retryable: true, details: { capability: "http", key } },
    );
  }
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    throw new TypeError(
      `Cannot read secret "${key}" as the secret source must return a string or undefined: current type is ${typeof value}`,
    );
  }
  const bytes = encoder.encode(value).length;
  if (bytes < MIN_SECRET_BYTES) {
    throw new WasmBrokerError(
      "policy_fault",
      `Cannot provide secret "${key}" as values shorter than ${MIN_SECRET_BYTES} bytes cannot be kept out of step output: current length is ${bytes} bytes`,
      {
        details: {
          capability: "http",
          key,
          reason: "secret_too_short",
          min_bytes: MIN_SECRET_BYTES,
        },
      },
    );
  }
  return value;
}

/** The parts of a guest request that placeholders may appear in. */
export interface PlaceholderRequest {
  url: string;
  headers?: Record<string, unknown>;
  body?: string;
}

/** A refusal of {@link StepSecrets.substitute}. */
export interface PlaceholderRefusal {
  readonly ok: false;
  /** `deny` is a policy decision (counted); `fail` an error. */
  readonly kind: "deny" | "fail";
  readonly errno: "denied" | "not_found";
  readonly code: "secret_undeclared" | "secret_missing" | "header_invalid";
  readonly message: string;
}

/** The outcome of {@link StepSecrets.substitute}. */
export type Substitution =
  | { readonly ok: true; readonly request: PlaceholderRequest; readonly used: readonly string[] }
  | PlaceholderRefusal;

/**
 * Sandbox half, one per step: the declared keys and the values the broker
 * half prepared.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StepSecrets } from "./secret_placeholders.ts";
 * const secrets = new StepSecrets(["API_TOKEN"], { values: { API_TOKEN: "tok 123456" } });
 * const done = secrets.substitute({
 *   url: "https://api.example.com/?key=${secrets.API_TOKEN}",
 *   headers: { authorization: "Bearer ${secrets.API_TOKEN}" },
 * });
 * assert.ok(done.ok);
 * assert.equal(done.request.url, "https://api.example.com/?key=tok%20123456");
 * assert.equal(done.request.headers?.authorization, "Bearer tok 123456");
 * assert.equal(secrets.sanitize("sent tok 123456"), "sent [REDACTED]");
 * ```
 */
export class StepSecrets {
  readonly #declared: ReadonlySet<string>;
  readonly #values: ReadonlyMap<string, string>;
  readonly #scanner: ReturnType<typeof createSecretScanner>;
  /** Every text that shows a value (scanner forms and the URL form), for clipped prefixes. */
  readonly #forms: readonly string[];
  /** The URL forms ({@link encodeUrlValue}), which the scanner does not know when they differ. */
  readonly #urlForms: readonly string[];

  constructor(declared: readonly string[], data: unknown) {
    this.#declared = new Set(declared);
    this.#values = preparedValues(data);
    const values = [...this.#values.values()];
    this.#scanner = createSecretScanner(values);
    const forms = new Set<string>();
    for (const value of values) {
      for (const form of secretForms(value).exact) forms.add(form);
      forms.add(encodeUrlValue(value));
    }
    forms.delete("");
    this.#forms = [...forms];
    this.#urlForms = values.map(encodeUrlValue).filter((form) => form !== "");
  }

  /** Whether this step has any secret values to guard. */
  get active(): boolean {
    return this.#values.size > 0;
  }

  /**
   * Puts the values in for the placeholders of `request`. Every placeholder
   * must name a declared key that has a value; anything else is refused.
   */
  substitute(request: PlaceholderRequest): Substitution {
    const used = new Set<string>();
    const check = (text: string): PlaceholderRefusal | null => {
      for (const match of text.matchAll(SECRET_PLACEHOLDER)) {
        const refusal = this.#refusal(match[1]);
        if (refusal) return refusal;
        used.add(match[1]);
      }
      return null;
    };
    const urlRefusal = check(request.url);
    if (urlRefusal) return urlRefusal;
    const url = request.url.replace(
      SECRET_PLACEHOLDER,
      (_, key: string) => encodeUrlValue(this.#values.get(key)!),
    );
    let headers = request.headers;
    let contentType = "";
    if (request.headers) {
      headers = {};
      for (const [name, value] of Object.entries(request.headers)) {
        if (name.toLowerCase() === "content-type" && typeof value === "string") {
          contentType = value;
        }
        if (typeof value !== "string") {
          headers[name] = value;
          continue;
        }
        const refusal = check(value);
        if (refusal) return refusal;
        for (const match of value.matchAll(SECRET_PLACEHOLDER)) {
          if (!HEADER_VALUE.test(this.#values.get(match[1])!)) {
            return {
              ok: false,
              kind: "deny",
              errno: "denied",
              code: "header_invalid",
              message: `Cannot send header "${name}" as the value of secret ${
                match[1]
              } is not printable ASCII`,
            };
          }
        }
        headers[name] = value.replace(
          SECRET_PLACEHOLDER,
          (_, key: string) => this.#values.get(key)!,
        );
      }
    }
    let body = request.body;
    if (body !== undefined) {
      const bodyRefusal = check(body);
      if (bodyRefusal) return bodyRefusal;
      const json = JSON_MEDIA.test(contentType);
      body = body.replace(SECRET_PLACEHOLDER, (_, key: string) => {
        const value = this.#values.get(key)!;
        return json ? JSON.stringify(value).slice(1, -1) : value;
      });
    }
    const out: PlaceholderRequest = { url };
    if (headers !== undefined) out.headers = headers;
    if (body !== undefined) out.body = body;
    return { ok: true, request: out, used: [...used] };
  }

  /**
   * `message` without secret values: every known form is redacted, and so is
   * the start of a form cut off by a clip (`"Bearer tok-12..."`), since the
   * guest reads these messages.
   */
  sanitize(message: string): string {
    if (!this.active) return message;
    let out = this.#scanner.redact(message);
    for (const form of this.#urlForms) out = out.replaceAll(form, REDACTED);
    if (!out.includes("...")) return out;
    for (const form of this.#forms) {
      for (let k = form.length - 1; k > 0; k--) {
        const cut = `${form.slice(0, k)}...`;
        if (out.includes(cut)) out = out.replaceAll(cut, `${REDACTED}...`);
      }
    }
    return out;
  }

  /**
   * The response as the guest may see it: `url` with the values it was sent
   * with turned back into placeholders. Throws a `secret_leak` fault when
   * any part (status line aside) still carries a value: the server echoed
   * it, or a redirect put it somewhere else.
   */
  guardResponse(response: GuestResponse, used: readonly string[]): GuestResponse {
    if (!this.active) return response;
    let url = response.url;
    for (const key of used) {
      url = url.replaceAll(encodeUrlValue(this.#values.get(key)!), `\${secrets.${key}}`);
    }
    const guarded = { ...response, url };
    const text = JSON.stringify(guarded);
    if (this.#scanner.found(text) || this.#urlForms.some((form) => text.includes(form))) {
      throw new GuestFault(
        "secret_leak",
        `Cannot hand the guest the response of ${
          this.sanitize(url)
        } as it carries the value of a secret from capabilities.http.secrets`,
        { details: { capability: "http", where: "response", placeholder: REDACTED } },
      );
    }
    return guarded;
  }

  #refusal(key: string): PlaceholderRefusal | null {
    if (!this.#declared.has(key)) {
      return {
        ok: false,
        kind: "deny",
        errno: "denied",
        code: "secret_undeclared",
        message:
          `Cannot send the request as it names \${secrets.${key}}, which capabilities.http.secrets does not declare (declared: ${
            [...this.#declared].join(", ") || "none"
          })`,
      };
    }
    if (!this.#values.has(key)) {
      return {
        ok: false,
        kind: "fail",
        errno: "not_found",
        code: "secret_missing",
        message: `Cannot send the request as the secret source has no value for \${secrets.${key}}`,
      };
    }
    return null;
  }
}

/**
 * A value as it goes into a URL: UTF-8, every byte but RFC 3986 unreserved
 * characters percent-encoded, so URL parsing leaves it as it is.
 */
export function encodeUrlValue(value: string): string {
  let out = "";
  for (const byte of encoder.encode(value)) {
    out += UNRESERVED.test(String.fromCharCode(byte))
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The values in `ctx.data` (see {@link SecretPlaceholderData}). */
function preparedValues(data: unknown): Map<string, string> {
  const values = new Map<string, string>();
  if (data === undefined || data === null) return values;
  const record = (data as { values?: unknown }).values;
  if (typeof data !== "object" || typeof record !== "object" || record === null) {
    throw new WasmBrokerError("internal", "Cannot use http step data as it has no values object");
  }
  for (const [key, value] of Object.entries(record)) {
    if (typeof value !== "string") {
      throw new WasmBrokerError(
        "internal",
        `Cannot use http step data as the value of "${key}" is not a string`,
      );
    }
    values.set(key, value);
  }
  return values;
}
