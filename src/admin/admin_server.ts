/**
 * Serves the admin app on `Deno.serve`.
 *
 * @module
 */

/** Anything with a fetch handler: a hono app, for one. */
export interface FetchApp {
  fetch(request: Request): Response | Promise<Response>;
}

/** Options for {@link startAdminServer}. */
export interface AdminServerOptions {
  /**
   * Interface to bind. Default `127.0.0.1`; use `0.0.0.0` where probes and
   * scrapers come from outside (containers).
   */
  hostname?: string;
  /** Port; 0 picks a free one. Default 8081 (Tasker's worker port). */
  port?: number;
}

/** A running admin server. */
export interface AdminServer {
  hostname: string;
  /** The bound port (the real one when 0 was asked for). */
  port: number;
  /** `http://<hostname>:<port>`. */
  url: string;
  /** Stops accepting, lets requests in flight finish, and resolves when closed. Idempotent. */
  shutdown(): Promise<void>;
  /** Resolves when the server has closed. */
  finished: Promise<void>;
}

/**
 * Starts serving `app`. Throws (the `Deno.errors` class, e.g. `AddrInUse`)
 * when the address cannot be bound.
 *
 * @example
 * ```ts
 * import { startAdminServer } from "./admin_server.ts";
 * const server = startAdminServer({ fetch: () => new Response("ok") }, { port: 0 });
 * const response = await fetch(`${server.url}/health/live`);
 * console.assert(await response.text() === "ok");
 * await server.shutdown();
 * ```
 */
export function startAdminServer(app: FetchApp, options: AdminServerOptions = {}): AdminServer {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 8081;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `Cannot start the admin server as the port is not an integer in 0..65535: current value is ${port}`,
    );
  }
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname, port, onListen() {} }, (request) => app.fetch(request));
  } catch (error) {
    const message = `Cannot start the admin server on ${hostname}:${port}: ${
      (error as Error).message
    }`;
    const Class = (error as Error).constructor as ErrorConstructor;
    throw Object.values(Deno.errors).includes(Class as never)
      ? new Class(message, { cause: error })
      : new Error(message, { cause: error });
  }
  const bound = server.addr.port;
  const urlHost = hostname.includes(":") ? `[${hostname}]` : hostname;
  let stopping: Promise<void> | undefined;
  return {
    hostname,
    port: bound,
    url: `http://${urlHost}:${bound}`,
    shutdown() {
      stopping ??= server.shutdown();
      return stopping;
    },
    finished: server.finished,
  };
}
