/**
 * A loopback server and helpers shared by the tests of the HTTP catalog
 * handlers (`http_request`, `notify`): both builds run against the same real
 * server. Private to tests/catalog/.
 *
 * Routes (chosen by the first path segment, behaviour by the query string,
 * so generated cases need no set-up):
 * - `/echo` — `{method, path, query, headers, body}` of the request as JSON;
 * - `/respond?status=&ctype=&body=&retry_after=&date=&header=name:value` —
 *   exactly that response (`header` may repeat);
 * - `/slow?ms=` — answers after `ms` milliseconds (default 2000);
 * - `/binary` — a body that is not UTF-8; `/sized?n=` — `n` bytes of `x`;
 * - `/items?n=` — JSON `{items: [{id, name}, ...]}` with `n` items (about 40 bytes each);
 * - `/secure` — `{authorized}`: whether `authorization` is `Bearer <token>`.
 *
 * @module
 */
import { join } from "node:path";
import { builtinPlugins, type BuiltinPluginsOptions } from "../../plugins/builtin_plugins.ts";
import { buildHandler, CATALOG_DIR } from "../../src/build/catalog_build.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import type { StepOutcome } from "../../src/runtime/step_outcome.ts";
import type { NativeOutcome } from "../../catalog/native/run_native.ts";

/** What the server saw of one request. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** The loopback test server. */
export class CatalogHttpServer {
  readonly server: Deno.HttpServer<Deno.NetAddr>;
  readonly seen: SeenRequest[] = [];
  /** The token `/secure` accepts. */
  token = "";

  constructor() {
    this.server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (request) => this.#handle(request),
    );
  }

  /** `http://127.0.0.1:<port>`. */
  get origin(): string {
    return `http://127.0.0.1:${this.server.addr.port}`;
  }

  url(path: string): string {
    return `${this.origin}${path}`;
  }

  close(): Promise<void> {
    return this.server.shutdown();
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const body = await request.text();
    const headers = Object.fromEntries(
      [...request.headers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    this.seen.push({ method: request.method, url: request.url, headers, body });
    const query = url.searchParams;
    // The first path segment picks the route, so `/echo/7` echoes too.
    switch (`/${url.pathname.split("/")[1]}`) {
      case "/echo":
        return Response.json({
          method: request.method,
          path: url.pathname,
          query: url.search,
          headers,
          body,
        });
      case "/respond": {
        const out = new Headers();
        const ctype = query.get("ctype");
        if (ctype !== null) out.set("content-type", ctype);
        const retryAfter = query.get("retry_after");
        if (retryAfter !== null) out.set("retry-after", retryAfter);
        const date = query.get("date");
        if (date !== null) out.set("date", date);
        for (const pair of query.getAll("header")) {
          const colon = pair.indexOf(":");
          out.append(pair.slice(0, colon), pair.slice(colon + 1));
        }
        const status = Number(query.get("status") ?? 200);
        const text = status === 204 || status === 304 ? null : query.get("body") ?? "";
        return new Response(text, { status, headers: out });
      }
      case "/slow": {
        // Long enough to pass any client deadline in the tests, short enough not to hold shutdown long.
        await new Promise((resolve) => setTimeout(resolve, Number(query.get("ms") ?? 2000)));
        return new Response("late");
      }
      case "/binary":
        return new Response(new Uint8Array([0xff, 0x00, 0xfe, 0x80]));
      case "/sized":
        return new Response("x".repeat(Number(query.get("n"))));
      case "/items":
        return Response.json({
          items: Array.from(
            { length: Number(query.get("n")) },
            (_, i) => ({ id: i, name: `item-${i}` }),
          ),
        });
      case "/secure":
        return Response.json({
          authorized: this.token !== "" && headers.authorization === `Bearer ${this.token}`,
        });
      default:
        return new Response("no such route", { status: 404 });
    }
  }
}

/** A loopback port nothing listens on (connections are refused). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * The handler's own catalog manifest with an http allowlist for `origins`
 * on loopback (the deployer's override, as a test writes it).
 */
export async function loopbackManifest(
  handler: string,
  origins: readonly string[],
  http: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const manifest = JSON.parse(
    await Deno.readTextFile(join(CATALOG_DIR, "handlers", handler, "manifest.json")),
  );
  manifest.capabilities.http = {
    ...manifest.capabilities.http,
    allow: [...origins],
    allow_private_addresses: ["127.0.0.1/32"],
    ...http,
  };
  return manifest;
}

/** A step outcome or a native outcome, in one comparable shape. */
export type Comparable =
  | { ok: true; result: unknown }
  | { ok: false; code: string; message: string; retryable: boolean; details: unknown };

/** A wasm step outcome as a {@link Comparable}: guest failures by their guest code. */
export function fromWasm(outcome: StepOutcome): Comparable {
  if (outcome.status === "completed") return { ok: true, result: outcome.result };
  const error = outcome.error!;
  const guest = error.code === "handler_error";
  return {
    ok: false,
    code: guest ? String(error.details?.guest_code) : error.code,
    message: error.message,
    retryable: error.retryable,
    details: guest ? error.details?.guest_details : error.details,
  };
}

/** A native outcome as a {@link Comparable}. */
export function fromNative(outcome: NativeOutcome): Comparable {
  if (outcome.ok) return { ok: true, result: JSON.parse(outcome.resultJson) };
  const { code, message, retryable, details } = outcome.failure;
  return { ok: false, code, message, retryable, details };
}

const binaries = new Map<string, Promise<Uint8Array>>();

/** The wasm build of a catalog handler, compiled once per process. */
export function handlerBinary(name: string): Promise<Uint8Array> {
  let binary = binaries.get(name);
  if (!binary) {
    binary = buildHandler(join(CATALOG_DIR, "handlers", name)).then((built) => built.binary);
    binaries.set(name, binary);
  }
  return binary;
}

/** Runs steps of a handler's wasm build under `manifest`, in process, with the built-in plugins. */
export async function wasmRunner(
  name: string,
  manifest: unknown,
  plugins: BuiltinPluginsOptions = {},
): Promise<(envelope: unknown) => Promise<StepOutcome>> {
  const runtime = new Runtime({ plugins: builtinPlugins(plugins) });
  const guest = await runtime.load(await handlerBinary(name), manifest, { name });
  return (envelope) => runtime.execute(guest, envelope);
}
