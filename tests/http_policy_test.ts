/**
 * Security tests of the `http` capability through real guests and a real
 * loopback server: every request goes guest → `http.request` → policy →
 * broker half (name resolution, rate limits) → `fetch` → `Deno.serve`.
 */
import assert from "node:assert/strict";
import { ioPlugin } from "../plugins/io/mod.ts";
import { httpPlugin, type HttpPluginOptions } from "../plugins/http/mod.ts";
import { CapabilityRegistry } from "../src/capability/capability_registry.ts";
import { InProcessExecutor } from "../src/runtime/in_process_executor.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import type { StepOutcome } from "../src/runtime/step_outcome.ts";
import { parseManifest } from "../src/manifest/manifest.ts";
import { prepareGuest } from "../src/runtime/prepared_guest.ts";
import { runStep } from "../src/runtime/run_step.ts";
import { SandboxPool } from "../src/sandbox/sandbox_pool.ts";
import { FETCH_GUEST, type GuestResponse, type GuestResult } from "../plugins/http/_fetch_guest.ts";

const LOOPBACK = ["127.0.0.1/32", "::1/128"];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A loopback test server with the routes the tests need. */
class TestServer {
  readonly server: Deno.HttpServer<Deno.NetAddr>;
  readonly seen: Request[] = [];
  bombSent = 0;
  bombCancelled = false;
  #held: (() => void)[] = [];
  #arrivals: (() => void)[] = [];

  constructor() {
    this.server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (request) => this.#handle(request),
    );
  }

  get port(): number {
    return this.server.addr.port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Resolves when a request reaches a holding route. */
  nextArrival(): Promise<void> {
    return new Promise((resolve) => this.#arrivals.push(resolve));
  }

  /** Lets every held request finish. */
  releaseHeld(): void {
    for (const release of this.#held.splice(0)) release();
  }

  async close(): Promise<void> {
    this.releaseHeld();
    await this.server.shutdown();
  }

  #hold(): Promise<void> {
    for (const arrived of this.#arrivals.splice(0)) arrived();
    return new Promise((resolve) => this.#held.push(resolve));
  }

  async #handle(request: Request): Promise<Response> {
    this.seen.push(request);
    const url = new URL(request.url);
    const query = url.searchParams;
    switch (url.pathname) {
      case "/ok":
        return new Response("hello from loopback", { headers: { "x-server": "test" } });
      case "/echo":
        return Response.json({
          method: request.method,
          headers: Object.fromEntries(request.headers),
          body: await request.text(),
        });
      case "/binary":
        return new Response(new Uint8Array([0xff, 0x00, 0xfe, 0x80]));
      case "/sized":
        return new Response("x".repeat(Number(query.get("n"))));
      case "/redirect":
        return new Response(null, {
          status: Number(query.get("status") ?? 302),
          headers: { location: query.get("to") ?? "/ok" },
        });
      case "/loop":
        return new Response(null, { status: 302, headers: { location: "/loop" } });
      case "/bomb": {
        const chunk = new Uint8Array(64 * 1024).fill(0x61);
        return new Response(
          new ReadableStream({
            pull: (controller) => {
              controller.enqueue(chunk);
              this.bombSent += chunk.length;
            },
            cancel: () => {
              this.bombCancelled = true;
            },
          }),
        );
      }
      case "/slow":
        await this.#hold();
        return new Response("too late");
      case "/slow-body": {
        const held = this.#hold();
        return new Response(
          new ReadableStream({
            async start(controller) {
              controller.enqueue(new TextEncoder().encode("first part"));
              await held;
              controller.close();
            },
          }),
        );
      }
      case "/gate":
        await this.#hold();
        return new Response("through the gate");
      default:
        return new Response("not found", { status: 404 });
    }
  }
}

async function withServers(
  count: number,
  fn: (...servers: TestServer[]) => Promise<void>,
): Promise<void> {
  const servers = Array.from({ length: count }, () => new TestServer());
  try {
    await fn(...servers);
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
}

function newRuntime(options: HttpPluginOptions = {}): Runtime {
  return new Runtime({ plugins: [ioPlugin(), httpPlugin(options)] });
}

async function fetchAs(
  runtime: Runtime,
  http: Record<string, unknown>,
  request: Record<string, unknown>,
  limits: Record<string, unknown> = {},
): Promise<{ outcome: StepOutcome; result: GuestResult }> {
  const guest = await runtime.load(FETCH_GUEST, { capabilities: { io: {}, http }, limits }, {
    name: "fetcher",
  });
  const outcome = await runtime.execute(guest, request);
  return { outcome, result: outcome.result as GuestResult };
}

function expectResponse(result: GuestResult): GuestResponse {
  assert.ok("response" in result, `expected a response, got ${JSON.stringify(result)}`);
  return result.response;
}

/** Asserts a denial with `code`, counted once in the step's metrics. */
function expectDenied(
  { outcome, result }: { outcome: StepOutcome; result: GuestResult },
  code: string,
  errno = -1,
): string {
  assert.equal(outcome.status, "completed", JSON.stringify(outcome.error));
  assert.ok("errno" in result, `expected a denial, got ${JSON.stringify(result).slice(0, 300)}`);
  assert.equal(result.error.code, code, result.error.message);
  assert.equal(result.errno, errno);
  assert.equal(outcome.metrics.policy_denials, 1);
  assert.deepEqual(outcome.metrics.denials_by_code, { [`http.${code}`]: 1 });
  return result.error.message;
}

Deno.test("http.request fetches an allowed URL from a granted loopback address", async () => {
  await withServers(1, async (server) => {
    const runtime = newRuntime();
    const { outcome, result } = await fetchAs(runtime, {
      allow: [`http://127.0.0.1:${server.port}/ok`],
      allow_private_addresses: LOOPBACK,
    }, { url: server.url("/ok") });
    const response = expectResponse(result);
    assert.equal(response.status, 200);
    assert.equal(response.body, "hello from loopback");
    assert.equal(response.headers["x-server"], "test");
    assert.equal(response.url, server.url("/ok"));
    assert.equal(outcome.metrics.policy_denials, 0);
    assert.equal(outcome.metrics.host_calls["http.request"], 1);
  });
});

Deno.test("http.request sends the guest's method, headers and body and returns binary as base64", async () => {
  await withServers(1, async (server) => {
    const runtime = newRuntime();
    const http = {
      allow: [`http://127.0.0.1:${server.port}`],
      methods: ["GET", "POST"],
      allow_private_addresses: LOOPBACK,
    };
    const posted = expectResponse(
      (await fetchAs(runtime, http, {
        method: "post",
        url: server.url("/echo"),
        headers: { "content-type": "text/plain", "x-guest": "yes" },
        body: "ping",
      })).result,
    );
    const echo = JSON.parse(posted.body!);
    assert.equal(echo.method, "POST");
    assert.equal(echo.body, "ping");
    assert.equal(echo.headers["x-guest"], "yes");
    const raw = expectResponse(
      (await fetchAs(runtime, http, {
        method: "POST",
        url: server.url("/echo"),
        body_base64: "AAEC",
      })).result,
    );
    assert.equal(JSON.parse(raw.body!).body, "\u0000\u0001\u0002");
    const binary = expectResponse(
      (await fetchAs(runtime, http, { url: server.url("/binary") })).result,
    );
    assert.equal(binary.body, undefined);
    assert.equal(binary.body_base64, "/wD+gA==");
  });
});

Deno.test("http.request refuses loopback in every spelling without a grant", async () => {
  await withServers(1, async (server) => {
    const runtime = newRuntime();
    const port = server.port;
    const http = {
      allow: [
        `http://127.0.0.1:${port}`,
        `http://0.0.0.0:${port}`,
        `http://[::1]:${port}`,
        `http://[::ffff:127.0.0.1]:${port}`,
        `http://localhost:${port}`,
      ],
    };
    for (
      const url of [
        `http://127.0.0.1:${port}/ok`,
        `http://0.0.0.0:${port}/ok`,
        `http://0:${port}/ok`,
        `http://[::1]:${port}/ok`,
        `http://[::ffff:127.0.0.1]:${port}/ok`,
        `http://2130706433:${port}/ok`,
        `http://0x7f.0.0.1:${port}/ok`,
        `http://0177.0.0.1:${port}/ok`,
        `http://127.1:${port}/ok`,
        `http://localhost:${port}/ok`,
        `http://LOCALHOST.:${port}/ok`,
      ]
    ) {
      const message = expectDenied(await fetchAs(runtime, http, { url }), "address_denied");
      assert.match(message, /loopback|unspecified/, url);
    }
    assert.equal(server.seen.length, 0, "no request reached the server");
  });
});

Deno.test("http.request reaches localhost and its trailing-dot form once loopback is granted", async () => {
  await withServers(1, async (server) => {
    const runtime = newRuntime();
    const http = {
      allow: [`http://localhost:${server.port}`],
      allow_private_addresses: LOOPBACK,
    };
    for (const host of ["localhost", "localhost.", "LocalHost"]) {
      const response = expectResponse(
        (await fetchAs(runtime, http, { url: `http://${host}:${server.port}/ok` })).result,
      );
      assert.equal(response.body, "hello from loopback");
      assert.equal(response.url, `http://localhost:${server.port}/ok`);
    }
  });
});

Deno.test("http.request does not let a trailing dot or case bypass a deny pattern", async () => {
  await withServers(1, async (server) => {
    const runtime = newRuntime();
    const http = {
      allow: [`http://localhost:${server.port}`],
      deny: [`http://localhost:${server.port}/ok`],
      allow_private_addresses: LOOPBACK,
    };
    for (const path of ["/ok", "/OK", "/ok;x", "/%6Fk"]) {
      for (const host of ["localhost", "localhost."]) {
        expectDenied(
          await fetchAs(runtime, http, { url: `http://${host}:${server.port}${path}` }),
          "path_denied",
        );
      }
    }
    assert.equal(server.seen.length, 0);
  });
});

Deno.test("http.request refuses userinfo, other schemes and URLs outside the allowlist", async () => {
  await withServers(2, async (server, other) => {
    const runtime = newRuntime();
    const http = {
      allow: [`http://127.0.0.1:${server.port}/ok`],
      allow_private_addresses: LOOPBACK,
    };
    const cases: [string, string][] = [
      [`http://trusted@127.0.0.1:${server.port}/ok`, "userinfo_denied"],
      [`http://127.0.0.1:${server.port}@127.0.0.1:${other.port}/ok`, "userinfo_denied"],
      ["file:///etc/passwd", "scheme_denied"],
      ["data:text/plain,hello", "scheme_denied"],
      ["blob:http://127.0.0.1/x", "scheme_denied"],
      [`https://127.0.0.1:${server.port}/ok`, "scheme_denied"],
      [other.url("/ok"), "port_denied"],
      [server.url("/echo"), "path_denied"],
      [server.url("/ok/../echo"), "path_denied"],
      [server.url("/ok/..%2fecho"), "path_denied"],
      [`http://example.invalid:${server.port}/ok`, "host_denied"],
    ];
    for (const [url, code] of cases) expectDenied(await fetchAs(runtime, http, { url }), code);
    assert.equal(server.seen.length + other.seen.length, 0);
  });
});

Deno.test("http.request refuses methods outside the policy and CRLF or framing headers", async () => {
  await withServers(1, async (server) => {
    const runtime = newRuntime();
    const http = {
      allow: [`http://127.0.0.1:${server.port}`],
      allow_private_addresses: LOOPBACK,
    };
    expectDenied(
      await fetchAs(runtime, http, { method: "DELETE", url: server.url("/echo") }),
      "method_denied",
    );
    for (
      const headers of [
        { "x-a": "1\r\nX-Injected: yes" },
        { "x-a": "1\nX-Injected: yes" },
        { "x-a\r\nX-Injected": "yes" },
        { Host: "evil.example" },
        { "Transfer-Encoding": "chunked" },
        { "Content-Length": "0" },
        { Connection: "close" },
      ]
    ) {
      expectDenied(
        await fetchAs(runtime, http, { url: server.url("/echo"), headers }),
        "header_invalid",
      );
    }
    assert.equal(server.seen.length, 0);
  });
});

Deno.test("http.request refuses a request body beyond max_request_bytes", async () => {
  await withServers(1, async (server) => {
    const runtime = newRuntime();
    const http = {
      allow: [`http://127.0.0.1:${server.port}`],
      methods: ["POST"],
      max_request_bytes: 100,
      allow_private_addresses: LOOPBACK,
    };
    expectDenied(
      await fetchAs(runtime, http, {
        method: "POST",
        url: server.url("/echo"),
        body: "x".repeat(101),
      }),
      "too_large",
      -4,
    );
    const fits = expectResponse(
      (await fetchAs(runtime, http, {
        method: "POST",
        url: server.url("/echo"),
        body: "x".repeat(100),
      }))
        .result,
    );
    assert.equal(JSON.parse(fits.body!).body.length, 100);
  });
});

Deno.test("http.request hands the guest a 3xx response when redirects are 0", async () => {
  await withServers(1, async (server) => {
    const runtime = newRuntime();
    const response = expectResponse(
      (await fetchAs(runtime, {
        allow: [`http://127.0.0.1:${server.port}`],
        allow_private_addresses: LOOPBACK,
      }, { url: server.url("/redirect?to=http://evil.example/") })).result,
    );
    assert.equal(response.status, 302);
    assert.equal(response.headers.location, "http://evil.example/");
    assert.equal(server.seen.length, 1);
  });
});

Deno.test("http.request follows an allowed relative redirect and reports the final URL", async () => {
  await withServers(1, async (server) => {
    const runtime = newRuntime();
    const response = expectResponse(
      (await fetchAs(runtime, {
        allow: [`http://127.0.0.1:${server.port}`],
        redirects: 1,
        allow_private_addresses: LOOPBACK,
      }, { url: server.url("/redirect?to=/ok") })).result,
    );
    assert.equal(response.status, 200);
    assert.equal(response.body, "hello from loopback");
    assert.equal(response.url, server.url("/ok"));
  });
});

Deno.test("http.request denies a redirect to a host, port, path or address outside the policy", async () => {
  await withServers(2, async (server, other) => {
    const runtime = newRuntime();
    const http = {
      allow: [`http://127.0.0.1:${server.port}`, `http://[::1]:${server.port}`],
      deny: [`http://127.0.0.1:${server.port}/echo`],
      redirects: 3,
      allow_private_addresses: ["127.0.0.1/32"],
    };
    const targets: [string, RegExp][] = [
      [other.url("/ok"), /port_denied/],
      [`http://evil.example:${server.port}/ok`, /host_denied/],
      ["http://169.254.169.254/latest/meta-data/", /host_denied/],
      ["file:///etc/passwd", /scheme_denied/],
      [`http://u@127.0.0.1:${server.port}/ok`, /userinfo_denied/],
      ["/echo", /path_denied/],
      [`http://[::1]:${server.port}/ok`, /loopback address/],
    ];
    for (const [to, reason] of targets) {
      const message = expectDenied(
        await fetchAs(runtime, http, { url: server.url(`/redirect?to=${encodeURIComponent(to)}`) }),
        "redirect_denied",
      );
      assert.match(message, reason, to);
    }
    assert.equal(other.seen.length, 0);
    assert.ok(server.seen.every((r) => new URL(r.url).pathname === "/redirect"));
  });
});

Deno.test("http.request stops after the allowed number of redirect hops", async () => {
  await withServers(1, async (server) => {
    const runtime = newRuntime();
    const message = expectDenied(
      await fetchAs(runtime, {
        allow: [`http://127.0.0.1:${server.port}`],
        redirects: 3,
        allow_private_addresses: LOOPBACK,
      }, { url: server.url("/loop") }),
      "redirect_denied",
    );
    assert.match(message, /allows 3 redirects/);
    assert.equal(server.seen.length, 4, "the first request and three hops");
  });
});

Deno.test("http.request turns POST into GET on 303 only when GET is allowed", async () => {
  await withServers(1, async (server) => {
    const runtime = newRuntime();
    const request = {
      method: "POST",
      url: server.url("/redirect?status=303&to=/echo"),
      headers: { "content-type": "text/plain" },
      body: "payload",
    };
    const base = {
      allow: [`http://127.0.0.1:${server.port}`],
      redirects: 1,
      allow_private_addresses: LOOPBACK,
    };
    expectDenied(
      await fetchAs(runtime, { ...base, methods: ["POST"] }, request),
      "redirect_denied",
    );
    const response = expectResponse(
      (await fetchAs(runtime, { ...base, methods: ["POST", "GET"] }, request)).result,
    );
    const echo = JSON.parse(response.body!);
    assert.equal(echo.method, "GET");
    assert.equal(echo.body, "");
    assert.equal(echo.headers["content-type"], undefined);
  });
});

Deno.test("http.request drops credentials on a redirect to another origin", async () => {
  await withServers(2, async (server, other) => {
    const runtime = newRuntime();
    const response = expectResponse(
      (await fetchAs(runtime, {
        allow: [`http://127.0.0.1:${server.port}`, `http://127.0.0.1:${other.port}`],
        redirects: 1,
        allow_private_addresses: LOOPBACK,
      }, {
        url: server.url(`/redirect?status=307&to=${encodeURIComponent(other.url("/echo"))}`),
        headers: { authorization: "Bearer secret", cookie: "a=b", "x-keep": "1" },
      })).result,
    );
    const echo = JSON.parse(response.body!);
    assert.equal(echo.headers.authorization, undefined);
    assert.equal(echo.headers.cookie, undefined);
    assert.equal(echo.headers["x-keep"], "1");
  });
});

Deno.test("http.request stops a response bomb at max_response_bytes with bounded reads", async () => {
  await withServers(1, async (server) => {
    let delivered = 0;
    let lastChunk = 0;
    // Counts what the plugin actually pulls from the body: no read-ahead (highWaterMark 0).
    const countingFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      const reader = response.body!.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          delivered += value.length;
          lastChunk = value.length;
          controller.enqueue(value);
        },
        cancel: (reason) => reader.cancel(reason),
      }, { highWaterMark: 0 });
      return new Response(body, { status: response.status, headers: response.headers });
    };
    const runtime = newRuntime({ fetch: countingFetch });
    const cap = 256 * 1024;
    const message = expectDenied(
      await fetchAs(runtime, {
        allow: [`http://127.0.0.1:${server.port}`],
        max_response_bytes: cap,
        allow_private_addresses: LOOPBACK,
      }, { url: server.url("/bomb") }),
      "too_large",
      -4,
    );
    assert.match(message, /exceeds max_response_bytes 262144/);
    assert.ok(delivered > cap, "the cap was reached by reading");
    // Reading stopped at the first chunk that crossed the cap: nothing was read beyond it.
    assert.ok(delivered - lastChunk <= cap, `read ${delivered} bytes, last chunk ${lastChunk}`);
    for (let i = 0; i < 100 && !server.bombCancelled; i++) await sleep(50);
    assert.ok(server.bombCancelled, "the server saw the connection dropped");
    const sentAtCancel = server.bombSent;
    await sleep(200);
    assert.equal(server.bombSent, sentAtCancel, "the stream stopped");
  });
});

Deno.test("http.request refuses a declared Content-Length beyond the cap without reading", async () => {
  await withServers(1, async (server) => {
    const runtime = newRuntime();
    const http = {
      allow: [`http://127.0.0.1:${server.port}`],
      max_response_bytes: 1000,
      allow_private_addresses: LOOPBACK,
    };
    const message = expectDenied(
      await fetchAs(runtime, http, { url: server.url("/sized?n=1001") }),
      "too_large",
      -4,
    );
    assert.match(message, /1001 bytes declared/);
    const fits = expectResponse(
      (await fetchAs(runtime, http, { url: server.url("/sized?n=1000") })).result,
    );
    assert.equal(fits.body!.length, 1000);
  });
});

Deno.test("http.request times out a slow response and a stalled body at timeout_ms", async () => {
  await withServers(1, async (server) => {
    const runtime = newRuntime();
    const http = {
      allow: [`http://127.0.0.1:${server.port}`],
      timeout_ms: 300,
      allow_private_addresses: LOOPBACK,
    };
    for (const path of ["/slow", "/slow-body"]) {
      const message = expectDenied(
        await fetchAs(runtime, http, { url: server.url(path) }),
        "timeout",
        -6,
      );
      assert.match(message, /timeout_ms 300/);
    }
  });
});

Deno.test("http.request honours a shorter timeout_ms from the guest, capped by the policy", async () => {
  await withServers(1, async (server) => {
    const runtime = newRuntime();
    const http = {
      allow: [`http://127.0.0.1:${server.port}`],
      timeout_ms: 60_000,
      allow_private_addresses: LOOPBACK,
    };
    const shorter = expectDenied(
      await fetchAs(runtime, http, { url: server.url("/slow"), timeout_ms: 250 }),
      "timeout",
      -6,
    );
    assert.match(shorter, /timeout_ms 250/);
    const capped = expectDenied(
      await fetchAs(runtime, { ...http, timeout_ms: 250 }, {
        url: server.url("/slow"),
        timeout_ms: 60_000,
      }),
      "timeout",
      -6,
    );
    assert.match(capped, /timeout_ms 250/);
  });
});

Deno.test("http.request never outlives the step's deadline", async () => {
  await withServers(1, async (server) => {
    const runtime = newRuntime();
    const { outcome } = await fetchAs(
      runtime,
      {
        allow: [`http://127.0.0.1:${server.port}`],
        timeout_ms: 60_000,
        allow_private_addresses: LOOPBACK,
      },
      { url: server.url("/slow") },
      { timeout_ms: 300 },
    );
    assert.equal(outcome.status, "failed");
    assert.equal(outcome.error?.code, "timeout");
    assert.equal(outcome.error?.retryable, true);
  });
});

Deno.test("http.request reports an unreachable port as unavailable, not as a denial", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const runtime = newRuntime();
  const { outcome, result } = await fetchAs(runtime, {
    allow: [`http://127.0.0.1:${port}`],
    allow_private_addresses: LOOPBACK,
  }, { url: `http://127.0.0.1:${port}/` });
  assert.ok("errno" in result);
  assert.equal(result.errno, -7);
  assert.equal(result.error.code, "network_error");
  assert.equal(outcome.metrics.policy_denials, 0);
});

/** Two runtimes whose sandbox halves are separate plugin instances; only the broker half is shared. */
function twoRuntimes(): [Runtime, Runtime] {
  const broker = httpPlugin();
  const make = () =>
    new Runtime({
      plugins: [ioPlugin(), broker],
      executor: () =>
        new InProcessExecutor({ registry: new CapabilityRegistry([ioPlugin(), httpPlugin()]) }),
    });
  return [make(), make()];
}

Deno.test("http.request enforces rate_limit per handler across runtimes sharing a broker half", async () => {
  await withServers(1, async (server) => {
    const [a, b] = twoRuntimes();
    const http = {
      allow: [`http://127.0.0.1:${server.port}`],
      rate_limit: { requests: 2, per_ms: 600_000 },
      allow_private_addresses: LOOPBACK,
    };
    const request = { url: server.url("/ok") };
    expectResponse((await fetchAs(a, http, request)).result);
    expectResponse((await fetchAs(b, http, request)).result);
    const message = expectDenied(await fetchAs(a, http, request), "rate_limited", -5);
    assert.match(message, /rate_limit 2 per 600000 ms: retry in \d+ ms/);
    expectDenied(await fetchAs(b, http, request), "rate_limited", -5);
    assert.equal(server.seen.length, 2);
    // Another handler has its own bucket.
    const other = await b.load(FETCH_GUEST, { capabilities: { io: {}, http } }, { name: "other" });
    expectResponse((await b.execute(other, request)).result as GuestResult);
  });
});

Deno.test("http.request enforces max_concurrent per handler across runtimes and frees the slot", async () => {
  await withServers(1, async (server) => {
    const [a, b] = twoRuntimes();
    const http = {
      allow: [`http://127.0.0.1:${server.port}`],
      max_concurrent: 1,
      allow_private_addresses: LOOPBACK,
    };
    const arrived = server.nextArrival();
    const first = fetchAs(a, http, { url: server.url("/gate") });
    await arrived;
    const message = expectDenied(
      await fetchAs(b, http, { url: server.url("/ok") }),
      "rate_limited",
      -5,
    );
    assert.match(message, /max_concurrent 1/);
    server.releaseHeld();
    assert.equal(expectResponse((await first).result).body, "through the gate");
    expectResponse((await fetchAs(b, http, { url: server.url("/ok") })).result);
  });
});

Deno.test("http.request works through runStep with callBroker wired to onBrokerCall", async () => {
  await withServers(1, async (server) => {
    const plugin = httpPlugin();
    const registry = new CapabilityRegistry([ioPlugin(), plugin]);
    const manifest = parseManifest({
      capabilities: {
        io: {},
        http: { allow: [`http://localhost:${server.port}`], allow_private_addresses: LOOPBACK },
      },
    }, registry);
    const guest = prepareGuest(FETCH_GUEST, manifest, registry);
    const step = { stepId: "s-1", handler: "direct", correlationId: "c-1" };
    const outcome = await runStep(guest, {
      input: new TextEncoder().encode(
        JSON.stringify({ url: `http://localhost:${server.port}/ok` }),
      ),
      step,
      callBroker: (capability, op, payload) =>
        plugin.onBrokerCall!(manifest.capabilities[capability] as never, step, op, payload),
    }, { registry });
    assert.equal(expectResponse(outcome.result as GuestResult).body, "hello from loopback");
  });
});

Deno.test("http.request works in a sandbox process allowed only the policy's host:port", async () => {
  await withServers(2, async (server, other) => {
    const runtime = new Runtime({
      plugins: [ioPlugin(), httpPlugin()],
      executor: (registry) => new SandboxPool({ registry, prewarm: 0 }),
    });
    try {
      const http = {
        allow: [`http://localhost:${server.port}`],
        redirects: 1,
        allow_private_addresses: LOOPBACK,
      };
      // "localhost" is resolved by the broker half: the sandbox may not call getaddrinfo.
      const { result } = await fetchAs(runtime, http, {
        url: `http://localhost:${server.port}/ok`,
      });
      assert.equal(expectResponse(result).body, "hello from loopback");
      const to = encodeURIComponent(`http://localhost:${other.port}/ok`);
      expectDenied(
        await fetchAs(runtime, http, { url: `http://localhost:${server.port}/redirect?to=${to}` }),
        "redirect_denied",
      );
      expectDenied(
        await fetchAs(runtime, { ...http, allow_private_addresses: [] }, {
          url: `http://localhost:${server.port}/ok`,
        }),
        "address_denied",
      );
      assert.equal(other.seen.length, 0);
    } finally {
      await runtime.close();
    }
  });
});
