/**
 * The `capabilities.http` manifest section. Parsing fills defaults but keeps
 * patterns and address blocks as written, so a parsed policy serialized to
 * JSON parses back to the same policy (sandboxes receive it that way).
 *
 * @module
 */
import { z } from "zod";
import { SecretsPolicySchema } from "../secrets/mod.ts";
import { parseCidr } from "./address_policy.ts";
import { clip } from "./normalize_url.ts";
import { parseUrlPattern } from "./url_pattern.ts";

/** Defaults of the `http` section; documented in docs/capabilities/http.md. */
export const HTTP_DEFAULTS = {
  methods: ["GET"],
  redirects: 0,
  timeoutMs: 10_000,
  maxResponseBytes: 1024 * 1024,
  maxRequestBytes: 1024 * 1024,
} as const;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// fetch refuses these methods; TRACK is TRACE's IIS twin.
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);

const UrlPatternText: z.ZodString = z.string().superRefine((text, ctx) => {
  try {
    parseUrlPattern(text);
  } catch (error) {
    ctx.addIssue({
      code: "custom",
      message: `expected a URL pattern such as "https://api.example.com/v1", got "${
        clip(text, 60)
      }" (${(error as Error).message})`,
    });
  }
});

const AddressBlockText: z.ZodString = z.string().superRefine((text, ctx) => {
  try {
    parseCidr(text);
  } catch (error) {
    ctx.addIssue({
      code: "custom",
      message: `expected an IP address or CIDR block such as "10.1.2.0/24", got "${
        clip(text, 60)
      }" (${(error as Error).message})`,
    });
  }
});

type MethodSchema = z.ZodPipe<z.ZodString, z.ZodTransform<string, string>>;
const MethodText: MethodSchema = z.string().transform((text, ctx) => {
  const method = text.toUpperCase();
  if (!TOKEN.test(text) || FORBIDDEN_METHODS.has(method)) {
    ctx.addIssue({
      code: "custom",
      message: `expected an HTTP method such as "GET" or "POST" (not CONNECT, TRACE, TRACK), got "${
        clip(text, 60)
      }"`,
    });
    return z.NEVER;
  }
  return method;
});

type Count = z.ZodDefault<z.ZodNumber>;

/** The shape of {@link HttpPolicySchema}, spelled out so the public API has explicit types. */
export type HttpPolicyShape = {
  allow: z.ZodDefault<z.ZodArray<z.ZodString>>;
  deny: z.ZodDefault<z.ZodArray<z.ZodString>>;
  methods: z.ZodDefault<z.ZodArray<MethodSchema>>;
  allow_private_addresses: z.ZodDefault<z.ZodArray<z.ZodString>>;
  redirects: Count;
  timeout_ms: Count;
  max_response_bytes: Count;
  max_request_bytes: Count;
  rate_limit: z.ZodOptional<
    z.ZodObject<{ requests: z.ZodNumber; per_ms: z.ZodNumber }, z.core.$strict>
  >;
  max_concurrent: z.ZodOptional<z.ZodNumber>;
  secrets: (typeof SecretsPolicySchema)["shape"]["keys"];
};

/** Schema of `capabilities.http`. */
export const HttpPolicySchema: z.ZodObject<HttpPolicyShape, z.core.$strict> = z.strictObject({
  /** URL patterns requests may go to; missing or empty denies everything. */
  allow: z.array(UrlPatternText).max(1000).default(() => []),
  /** URL patterns requests may never go to; deny wins over allow. */
  deny: z.array(UrlPatternText).max(1000).default(() => []),
  /** Allowed request methods (upper-cased). */
  methods: z.array(MethodText).min(1).max(32).default(() => [...HTTP_DEFAULTS.methods]),
  /** Non-public addresses (IPs or CIDR blocks) requests may still reach. */
  allow_private_addresses: z.array(AddressBlockText).max(256).default(() => []),
  /** Redirect hops followed; 0 hands the guest the 3xx response. */
  redirects: z.number().int().min(0).max(20).default(HTTP_DEFAULTS.redirects),
  /** Per-request timeout (all hops and the body), never beyond the step's deadline. */
  timeout_ms: z.number().int().min(1).max(15 * 60 * 1000).default(HTTP_DEFAULTS.timeoutMs),
  /** Cap on the (decoded) response body, enforced while it streams. */
  max_response_bytes: z.number().int().min(0).max(256 * 1024 * 1024).default(
    HTTP_DEFAULTS.maxResponseBytes,
  ),
  /** Cap on the request body. */
  max_request_bytes: z.number().int().min(0).max(64 * 1024 * 1024).default(
    HTTP_DEFAULTS.maxRequestBytes,
  ),
  /** Requests per handler per window, across all sandboxes (token bucket in the broker). */
  rate_limit: z.strictObject({
    requests: z.number().int().min(1).max(1_000_000),
    per_ms: z.number().int().min(1).max(24 * 60 * 60 * 1000),
  }).optional(),
  /** Requests of one handler in flight at once, across all sandboxes. */
  max_concurrent: z.number().int().min(1).max(100_000).optional(),
  /**
   * Secret keys the host substitutes for `${secrets.NAME}` placeholders in
   * requests (secret_placeholders.ts); the `secrets` capability's key grammar.
   */
  secrets: SecretsPolicySchema.shape.keys,
});

/** Parsed `http` section. */
export type HttpPolicy = z.output<typeof HttpPolicySchema>;
