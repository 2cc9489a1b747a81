// Example guest: reads {"url": string}, GETs it through the `http`
// capability and writes {"status": number, "data": <the JSON body>}.
// Every failure is reported with `fail`: a denial or network error with the
// host's code, an HTTP error status as `http_status` (retryable for 5xx), a
// body that is not JSON as `bad_body`.
import { Errno, fail, http, JsonWriter, log, readInputJson, writeOutput } from "../../sdk/index";

export function run(): i32 {
  const input = readInputJson().value;
  const url = input ? input.getString("url") : null;
  if (url == null) return fail('Cannot fetch as the input has no "url" string', "bad_input");

  const headers = new Map<string, string>();
  headers.set("accept", "application/json");
  const result = http.get(url, headers);
  const error = result.error;
  if (error) {
    // Waiting can help with these; a denial or a bad URL will not change.
    const retryable = error.errno == Errno.Timeout || error.errno == Errno.Unavailable ||
      error.errno == Errno.RateLimited;
    return fail("Cannot fetch " + url + ": " + error.message, error.code, retryable);
  }
  const response = result.response!;
  log.info("GET " + response.url + " -> " + response.status.toString());
  if (response.status >= 400) {
    return fail(
      "Cannot use the response as the server answered " + response.status.toString(),
      "http_status",
      response.status >= 500,
    );
  }
  const body = response.json();
  if (!body.ok) return fail("Cannot parse the response body as JSON: " + body.error!, "bad_body");
  const out = new JsonWriter().beginObject()
    .field("status", response.status)
    .field("data", body.value)
    .endObject();
  writeOutput(out.toString());
  return 0;
}
