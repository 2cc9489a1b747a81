// The `http` capability: outbound requests, checked by the host against the
// manifest's allowlist. A denial is a value (`ok == false`), not an abort.
import * as abi from "./abi/http";
import { Errno, HostError, hostErrorFromJson } from "./host_error";
// AssemblyScript has no `import type`: type-only names are imported as values.
// deno-lint-ignore verbatim-module-syntax
import { JsonResult, JsonValue, JsonWriter, parseJson } from "./json";

/** A response from {@link request}. */
export class HttpResponse {
  status: i32 = 0;
  /** Header names as the host reports them (lowercase for fetch); use {@link header} to look one up. */
  headers: Map<string, string> = new Map<string, string>();
  /** The body as text; empty when the body is not UTF-8 (see {@link bodyBase64}). */
  body: string = "";
  /** The body in base64 when it is not valid UTF-8 (the host sends it so); null otherwise. */
  bodyBase64: string | null = null;
  /** The final URL, after redirects the host allowed. */
  url: string = "";

  /** A header's value (case-insensitive name), or null. */
  header(name: string): string | null {
    const wanted = name.toLowerCase();
    const keys = this.headers.keys();
    for (let i = 0; i < keys.length; i++) {
      if (keys[i].toLowerCase() == wanted) return this.headers.get(keys[i]);
    }
    return null;
  }

  /** The body, parsed as JSON. */
  json(): JsonResult {
    return parseJson(this.body);
  }
}

/** What {@link request} returns: a response, or the host's error. */
export class HttpResult {
  response: HttpResponse | null = null;
  error: HostError | null = null;

  /** True when the host sent the request and got a response (of any status). */
  get ok(): bool {
    return this.error == null;
  }

  /** The errno of a failed call; 0 on success. */
  get errno(): i32 {
    const error = this.error;
    return error ? error.errno : 0;
  }
}

/**
 * Sends an HTTP request through the host. Any response status is `ok`;
 * check `response.status`. A URL outside the allowlist, a timeout or a
 * network failure gives `ok == false` with the host's error.
 *
 * ```ts
 * const res = http.request("POST", "https://api.example.com/items", null, '{"a":1}');
 * if (res.ok && res.response!.status == 201) log.info("created");
 * ```
 */
export function request(
  method: string,
  url: string,
  headers: Map<string, string> | null = null,
  body: string | null = null,
): HttpResult {
  const out = new JsonWriter().beginObject().field("method", method).field("url", url);
  if (headers) {
    out.key("headers").beginObject();
    const names = headers.keys();
    for (let i = 0; i < names.length; i++) out.field(names[i], headers.get(names[i]));
    out.endObject();
  }
  if (body != null) out.field("body", body);
  const req = String.UTF8.encode(out.endObject().toString());
  const result = new HttpResult();
  const n = abi.request(changetype<usize>(req), req.byteLength);
  if (n < 0) {
    result.error = lastError(n);
    return result;
  }
  const staged = new ArrayBuffer(n);
  const copied = abi.read_result(changetype<usize>(staged), n);
  const parsed = parseJson(String.UTF8.decode(copied == n ? staged : staged.slice(0, copied)));
  const value = parsed.value;
  if (!value || !value.isObject()) {
    // A host bug, reported as a value so the guest can still fail cleanly.
    result.error = new HostError(
      Errno.Unavailable,
      "invalid_response",
      "host staged a response that is not a JSON object",
    );
    return result;
  }
  const response = new HttpResponse();
  response.status = <i32> value.getNumber("status", 0);
  const text = value.getString("body");
  if (text != null) response.body = text;
  response.bodyBase64 = value.getString("body_base64");
  const final = value.getString("url");
  response.url = final != null ? final : url;
  const fields = value.get("headers");
  if (fields && fields.isObject()) {
    const names = fields.keys!;
    const values = fields.items!;
    for (let i = 0; i < names.length; i++) {
      const joined = headerText(values[i]);
      if (joined != null) response.headers.set(names[i], joined);
    }
  }
  result.response = response;
  return result;
}

/** `request("GET", url, headers)`. */
export function get(url: string, headers: Map<string, string> | null = null): HttpResult {
  return request("GET", url, headers);
}

/** A header value: a string, or an array of strings joined with ", "; null otherwise. */
function headerText(value: JsonValue): string | null {
  if (value.isString()) return value.text;
  if (!value.isArray()) return null;
  const parts: string[] = [];
  for (let i = 0; i < value.length; i++) {
    const item = value.at(i)!;
    if (item.isString()) parts.push(item.text);
  }
  return parts.join(", ");
}

function lastError(errno: i32): HostError {
  const n = abi.last_error(0, 0);
  const buf = new ArrayBuffer(n);
  abi.last_error(changetype<usize>(buf), n);
  return hostErrorFromJson(errno, String.UTF8.decode(buf));
}
