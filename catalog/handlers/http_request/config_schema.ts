/**
 * The config (`handler.initialization`) of the `http_request` catalog
 * handler. `deno task catalog:build` turns it into config_schema.json and
 * config_schema.gen.ts; see docs/catalog/http_request.md.
 *
 * @module
 */
import { z } from "zod";

/** One entry of `expected_status`: a status code or a class such as "2xx". */
export const ExpectedStatus = z.union([
  z.number().int().min(100).max(599).describe("An exact status code, e.g. 201"),
  z.enum(["1xx", "2xx", "3xx", "4xx", "5xx"]).describe('A class of statuses, e.g. "2xx"'),
]);

/** A `${...}` template string. */
const Template = z.string().max(64 * 1024);

/** `url`, shared with `notify`. */
export const urlField = Template.min(1).describe(
  "The URL, http:// or https://, with ${...} placeholders (context, deps, steps, step; secrets are substituted by the http capability). Values are inserted as they are: use query for parameters",
);
/** `headers`, shared with `notify`. */
export const headersField = z.record(z.string().min(1).max(256), Template).optional().describe(
  "Request headers: name → template. Names are HTTP tokens; Host, Content-Length and the hop-by-hop headers are the host's",
);
/** `expected_status`, shared with `notify`. */
export const expectedStatusField = z.array(ExpectedStatus).min(1).max(100).optional().describe(
  'Statuses that count as success; default ["2xx"]. Others fail with http_status (retryable for 429 and 5xx)',
);
/** `timeout_ms`, shared with `notify`. */
export const timeoutField = z.number().int().min(1).max(15 * 60 * 1000).optional().describe(
  "Request deadline in milliseconds (native build); default 10000. The wasm build is bounded by capabilities.http.timeout_ms",
);

/** The `http_request` config. */
export const configSchema = z.strictObject({
  url: urlField,
  method: z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]).optional()
    .describe("The request method; default GET"),
  headers: headersField,
  query: z.record(z.string().min(1).max(1024), Template).optional().describe(
    "Query parameters appended to the URL: name → template, both percent-encoded (UTF-8)",
  ),
  body: z.unknown().optional().describe(
    "A JSON body: any JSON value whose strings are templates; a string that is one placeholder keeps the value's type. Sent as application/json unless headers set content-type",
  ),
  body_text: Template.optional().describe(
    "A text body template (instead of body). Sent as text/plain; charset=utf-8 unless headers set content-type",
  ),
  expected_status: expectedStatusField,
  response_extract: z.string().min(1).max(64 * 1024).optional().describe(
    "A jq filter over {status, headers, body} (body parsed when the response is JSON) whose single output is the result",
  ),
  include_headers: z.boolean().optional().describe(
    "Keep the response headers in the default result {status, headers, body}; default false",
  ),
  timeout_ms: timeoutField,
});
