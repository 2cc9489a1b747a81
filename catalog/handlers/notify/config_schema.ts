/**
 * The config (`handler.initialization`) of the `notify` catalog handler: a
 * webhook POST. Its fields are `http_request`'s (same meaning, same
 * checks); see docs/catalog/notify.md.
 *
 * @module
 */
import { z } from "zod";
import {
  expectedStatusField,
  headersField,
  timeoutField,
  urlField,
} from "../http_request/config_schema.ts";

/** The `notify` config. */
export const configSchema = z.strictObject({
  url: urlField,
  headers: headersField,
  body: z.unknown().describe(
    "The JSON payload: any JSON value whose strings are templates; a string that is one placeholder keeps the value's type. Sent as application/json unless headers set content-type",
  ),
  expected_status: expectedStatusField,
  timeout_ms: timeoutField,
});
