/**
 * The loopback HTTP server the example workflows talk to: a customer API
 * (`GET /api/customers/<id>`) and a webhook (`POST /hooks/<name>`). Test and
 * demo tooling, not product code.
 *
 * @module
 */

/** A webhook delivery the receiver got. */
export interface ReceivedHook {
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

/** A running {@link startDemoReceiver}. */
export interface DemoReceiver {
  port: number;
  /** Webhook deliveries, in arrival order. */
  hooks: ReceivedHook[];
  close(): Promise<void>;
}

/**
 * Starts the receiver on 127.0.0.1 (`port` 0 picks a free one). Customers
 * whose id ends in 7 are `gold`, others `silver`; `c-404` does not exist.
 *
 * @example
 * ```ts
 * import { startDemoReceiver } from "./demo_receiver.ts";
 * const r = await startDemoReceiver({ port: 0 });
 * const res = await fetch(`http://127.0.0.1:${r.port}/api/customers/c-17`);
 * console.assert((await res.json()).tier === "gold");
 * await r.close();
 * ```
 */
export async function startDemoReceiver(options: { port: number }): Promise<DemoReceiver> {
  const hooks: ReceivedHook[] = [];
  const listening = Promise.withResolvers<void>();
  // Throws (Deno.errors.AddrInUse) right away when the port is taken.
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port,
    onListen: () => listening.resolve(),
  }, async (req) => {
    const url = new URL(req.url);
    const customer = /^\/api\/customers\/([A-Za-z0-9-]+)$/.exec(url.pathname);
    if (req.method === "GET" && customer) {
      const id = customer[1];
      if (id === "c-404") return Response.json({ error: "no such customer" }, { status: 404 });
      const names = ["Ana", "Bo", "Chen", "Dara", "Eli"];
      const name = names[[...id].reduce((n, c) => n + c.charCodeAt(0), 0) % names.length];
      return Response.json({ id, name, tier: id.endsWith("7") ? "gold" : "silver" });
    }
    if (req.method === "POST" && url.pathname.startsWith("/hooks/")) {
      const text = await req.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: keep the text.
      }
      hooks.push({ path: url.pathname, headers: Object.fromEntries(req.headers), body });
      return new Response("ok", { headers: { "content-type": "text/plain" } });
    }
    return new Response("not found", { status: 404 });
  });
  await listening.promise;
  return {
    port: server.addr.port,
    hooks,
    close: () => server.shutdown(),
  };
}
