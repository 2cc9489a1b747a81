import assert from "node:assert/strict";
import { type ExchangeResult, performExchange } from "./http_exchange.ts";
import { HttpPolicySchema } from "./http_policy_schema.ts";
import { type NormalizedUrl, normalizeRequestUrl } from "./normalize_url.ts";
import { compileHttpPolicy } from "./url_policy.ts";

interface Sent {
  url: string;
  method: string;
  body: string | null;
  headers: [string, string][];
}

/** A fake network: answers from `routes` by URL and records what was sent. */
function fakeFetch(routes: Record<string, () => Response>, sent: Sent[]): typeof fetch {
  return (input, init) => {
    const body = init?.body ? new TextDecoder().decode(init.body as Uint8Array) : null;
    sent.push({
      url: String(input),
      method: init?.method ?? "GET",
      body,
      headers: init?.headers as [string, string][],
    });
    const route = routes[String(input)];
    return Promise.resolve(route ? route() : new Response("missing", { status: 404 }));
  };
}

const redirect = (status: number, location: string) => () =>
  new Response(null, { status, headers: { location } });

async function exchange(
  policyInput: Record<string, unknown>,
  request: { method: string; url: string; body?: string; headers?: [string, string][] },
  routes: Record<string, () => Response>,
): Promise<{ result: ExchangeResult; sent: Sent[] }> {
  const sent: Sent[] = [];
  const result = await performExchange({
    method: request.method,
    target: normalizeRequestUrl(request.url) as NormalizedUrl,
    headers: request.headers ?? [],
    body: request.body === undefined ? null : new TextEncoder().encode(request.body),
  }, {
    policy: compileHttpPolicy(HttpPolicySchema.parse(policyInput)),
    fetch: fakeFetch(routes, sent),
    resolve: () => Promise.resolve(["93.184.215.14"]),
    signal: new AbortController().signal,
  });
  return { result, sent };
}

const policy = {
  allow: ["https://a.example.com", "https://b.example.com"],
  methods: ["GET", "POST", "HEAD", "PUT"],
  redirects: 2,
};

Deno.test("performExchange() keeps method and body on 307 and 308", async () => {
  for (const status of [307, 308]) {
    const { result, sent } = await exchange(policy, {
      method: "PUT",
      url: "https://a.example.com/x",
      body: "data",
      headers: [["content-type", "text/plain"]],
    }, {
      "https://a.example.com/x": redirect(status, "/y"),
      "https://a.example.com/y": () => new Response("done"),
    });
    assert.ok(result.ok);
    assert.equal(sent[1].method, "PUT");
    assert.equal(sent[1].body, "data");
    assert.deepEqual(sent[1].headers, [["content-type", "text/plain"]]);
  }
});

Deno.test("performExchange() turns POST into GET on 301 and 302 and drops body headers", async () => {
  for (const status of [301, 302]) {
    const { sent } = await exchange(policy, {
      method: "POST",
      url: "https://a.example.com/x",
      body: "data",
      headers: [["Content-Type", "text/plain"], ["x-keep", "1"]],
    }, {
      "https://a.example.com/x": redirect(status, "/y"),
      "https://a.example.com/y": () => new Response("done"),
    });
    assert.equal(sent[1].method, "GET");
    assert.equal(sent[1].body, null);
    assert.deepEqual(sent[1].headers, [["x-keep", "1"]]);
  }
  const put = await exchange(policy, { method: "PUT", url: "https://a.example.com/x", body: "d" }, {
    "https://a.example.com/x": redirect(302, "/y"),
    "https://a.example.com/y": () => new Response("done"),
  });
  assert.equal(put.sent[1].method, "PUT", "302 changes only POST");
});

Deno.test("performExchange() keeps HEAD on 303", async () => {
  const { sent } = await exchange(policy, { method: "HEAD", url: "https://a.example.com/x" }, {
    "https://a.example.com/x": redirect(303, "/y"),
    "https://a.example.com/y": () => new Response(null),
  });
  assert.equal(sent[1].method, "HEAD");
});

Deno.test("performExchange() returns 3xx without Location and non-redirect 3xx as they are", async () => {
  for (const make of [() => new Response(null, { status: 302 }), redirect(304, "/y")]) {
    const { result, sent } = await exchange(policy, {
      method: "GET",
      url: "https://a.example.com/x",
    }, {
      "https://a.example.com/x": make,
    });
    assert.ok(result.ok);
    assert.equal(sent.length, 1);
  }
});

Deno.test("performExchange() resolves a relative Location against the hop that sent it", async () => {
  const { result, sent } = await exchange(policy, {
    method: "GET",
    url: "https://a.example.com/d/x",
  }, {
    "https://a.example.com/d/x": redirect(302, "//b.example.com/z"),
    "https://b.example.com/z": redirect(302, "w"),
    "https://b.example.com/w": () => new Response("end"),
  });
  assert.ok(result.ok);
  assert.equal(result.response.url, "https://b.example.com/w");
  assert.deepEqual(sent.map((s) => s.url), [
    "https://a.example.com/d/x",
    "https://b.example.com/z",
    "https://b.example.com/w",
  ]);
});

Deno.test("performExchange() counts decoded bytes when the body is content-encoded", async () => {
  const body = "y".repeat(200);
  const encoded = () =>
    new Response(body, { headers: { "content-encoding": "identity", "content-length": "10" } });
  const { result } = await exchange({ ...policy, max_response_bytes: 100 }, {
    method: "GET",
    url: "https://a.example.com/x",
  }, { "https://a.example.com/x": encoded });
  assert.ok(!result.ok);
  assert.equal(result.code, "too_large");
  assert.match(result.message, /more than 100 bytes/);
});

Deno.test("performExchange() merges repeated response headers and keeps an exact-size body", async () => {
  const { result } = await exchange({ ...policy, max_response_bytes: 5 }, {
    method: "GET",
    url: "https://a.example.com/x",
  }, {
    "https://a.example.com/x": () => {
      const headers = new Headers();
      headers.append("x-multi", "1");
      headers.append("x-multi", "2");
      return new Response("12345", { headers });
    },
  });
  assert.ok(result.ok);
  assert.equal(result.response.body, "12345");
  assert.equal(result.response.headers["x-multi"], "1, 2");
});
