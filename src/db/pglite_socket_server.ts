/**
 * A PostgreSQL wire-protocol server in front of an in-process PGlite, so
 * other processes (`deno task demo`, `psql`, a second broker's tooling) can
 * use the embedded database with an ordinary `postgres://` URL.
 *
 * Why not `@electric-sql/pglite-socket`'s server: it runs each protocol
 * message under `db.runExclusive` and keeps one socket's transaction together
 * only against other sockets. In-process statements are not part of its
 * queue, so (checked) a socket client's INSERT issued during an in-process
 * `transaction()` becomes part of it and is rolled back with it, and an
 * in-process statement issued while a socket client is inside `BEGIN` joins
 * that transaction. Here every connection goes through the instance's
 * {@link SessionGate} (shared with {@link PgliteClient}): a connection takes
 * the gate with its first message and gives it back only when PGlite reports
 * ReadyForQuery with status `I` (idle, no transaction) after a Sync or a
 * simple Query. An extended-protocol exchange (Parse … Sync) and a whole
 * `BEGIN … COMMIT` therefore run without anyone else's statements in between.
 *
 * Also handled, because PGlite has one session for all connections:
 * - named prepared statements and portals are renamed per connection
 *   (`wb<id>_<name>`) so two clients' `s1` do not collide, and deallocated
 *   when the connection ends;
 * - notifications are routed: PGlite's raw output carries them to whichever
 *   connection happened to run the NOTIFY; they are taken out of that stream
 *   and delivered to the in-process listeners and to every connection that
 *   issued a matching LISTEN;
 * - a connection that holds the gate without sending anything (an open
 *   transaction left idle) is rolled back and disconnected after
 *   `idleInTransactionTimeoutMs`, so it cannot stall the broker forever;
 * - a connection that goes away mid-transaction is rolled back.
 *
 * Not isolated (documented in docs/database.md): session settings (`SET`),
 * SQL-level `PREPARE`, temporary tables and advisory session locks are
 * shared by every connection and the in-process client.
 *
 * @module
 */
import { concatBytes } from "../concat_bytes.ts";
import type { PGlite } from "@electric-sql/pglite";
import { type PgliteSession, pgliteSession } from "./pglite_session.ts";
import { quoteIdentifier } from "./quote_identifier.ts";

/** Options for {@link startPgliteSocketServer}. */
export interface PgliteSocketServerOptions {
  /** Interface to bind. Defaults to `127.0.0.1` (loopback only: there is no authentication). */
  host?: string;
  /** Port; `0` (the default) picks a free one. */
  port?: number;
  /** Connections beyond this are refused with SQLSTATE 53300. Defaults to 32. */
  maxConnections?: number;
  /**
   * How long a connection may hold the session (an open transaction or an
   * unfinished extended-protocol exchange) without sending a message before
   * it is rolled back and disconnected. Defaults to 30 000 ms.
   */
  idleInTransactionTimeoutMs?: number;
  /** Receives connection events (connect, disconnect, timeouts); silent by default. */
  log?: (event: { event: string; connection?: number; detail?: string }) => void;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;
/** A frontend message larger than this is refused (PostgreSQL's own limit is 1 GB). */
const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/**
 * Starts the server; resolves once it listens.
 *
 * @example
 * ```ts ignore
 * import { startPgliteSocketServer } from "./pglite_socket_server.ts";
 * const server = await startPgliteSocketServer(db);
 * console.log(server.url()); // postgres://postgres@127.0.0.1:54321/postgres
 * await server.close();
 * ```
 */
export function startPgliteSocketServer(
  db: PGlite,
  options: PgliteSocketServerOptions = {},
): Promise<PgliteSocketServer> {
  return Promise.resolve(new PgliteSocketServer(db, options));
}

/** A running server; see {@link startPgliteSocketServer}. */
export class PgliteSocketServer {
  readonly host: string;
  readonly port: number;
  readonly #listener: Deno.TcpListener;
  readonly #session: PgliteSession;
  readonly #connections = new Set<SocketConnection>();
  readonly #options: Required<Omit<PgliteSocketServerOptions, "host" | "port">>;
  readonly #removeTap: () => void;
  readonly #accepting: Promise<void>;
  #nextId = 1;
  #closing: Promise<void> | undefined;

  constructor(db: PGlite, options: PgliteSocketServerOptions) {
    this.#session = pgliteSession(db);
    this.#options = {
      maxConnections: options.maxConnections ?? 32,
      idleInTransactionTimeoutMs: options.idleInTransactionTimeoutMs ?? 30_000,
      log: options.log ?? (() => {}),
    };
    this.#listener = Deno.listen({
      hostname: options.host ?? "127.0.0.1",
      port: options.port ?? 0,
    });
    const addr = this.#listener.addr as Deno.NetAddr;
    this.host = addr.hostname;
    this.port = addr.port;
    this.#removeTap = this.#session.addTap((channel, payload) => {
      for (const connection of this.#connections) connection.notify(channel, payload);
    });
    this.#accepting = this.#accept();
  }

  /** A URL for postgres.js/psql: `postgres://postgres@<host>:<port>/<database>`. */
  url(database = "postgres"): string {
    const host = this.host.includes(":") ? `[${this.host}]` : this.host;
    return `postgres://postgres@${host}:${this.port}/${database}`;
  }

  /** Number of open client connections. */
  get connections(): number {
    return this.#connections.size;
  }

  /** Stops accepting, rolls back and closes every connection. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#listener.close();
      await this.#accepting;
      await Promise.all([...this.#connections].map((c) => c.close("server closing")));
      this.#removeTap();
    })();
    return this.#closing;
  }

  async #accept(): Promise<void> {
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return; // Listener closed.
      }
      const id = this.#nextId++;
      if (this.#connections.size >= this.#options.maxConnections) {
        this.#options.log({ event: "refused", connection: id, detail: "too many connections" });
        void refuse(
          conn,
          "53300",
          `too many connections to the embedded database (max ${this.#options.maxConnections})`,
        );
        continue;
      }
      const connection = new SocketConnection(id, conn, this.#session, this.#options);
      this.#connections.add(connection);
      this.#options.log({ event: "connected", connection: id });
      connection.run().finally(() => {
        this.#connections.delete(connection);
        this.#options.log({ event: "disconnected", connection: id });
      });
    }
  }
}

/** One client connection: reads frontend messages and runs them on the shared session. */
class SocketConnection {
  readonly #id: number;
  readonly #conn: Deno.TcpConn;
  readonly #session: PgliteSession;
  readonly #db: PGlite;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #options: Required<Omit<PgliteSocketServerOptions, "host" | "port">>;
  readonly #prefix: string;
  readonly #prepared = new Set<string>();
  /** Channels this connection LISTENs on (as issued, unquoted names lowercased). */
  readonly #listening = new Set<string>();
  #buffer: Uint8Array = new Uint8Array(0);
  #started = false;
  #closed = false;
  /** Transaction status from the last ReadyForQuery: I, T or E. */
  #status = "I";
  #reassertListens = false;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    id: number,
    conn: Deno.TcpConn,
    session: PgliteSession,
    options: Required<Omit<PgliteSocketServerOptions, "host" | "port">>,
  ) {
    this.#id = id;
    this.#conn = conn;
    this.#session = session;
    this.#db = session.db;
    this.#options = options;
    this.#prefix = `wb${id}_`;
    this.#writer = conn.writable.getWriter();
    conn.setNoDelay(true);
  }

  async run(): Promise<void> {
    const reader = this.#conn.readable.getReader();
    try {
      while (!this.#closed) {
        const { value, done } = await reader.read();
        if (done || !value) break;
        this.#buffer = concat(this.#buffer, value);
        let message: Uint8Array | undefined;
        while (!this.#closed && (message = this.#nextMessage()) !== undefined) {
          await this.#handle(message);
        }
      }
    } catch (error) {
      if (!this.#closed) {
        this.#options.log({ event: "error", connection: this.#id, detail: String(error) });
      }
    } finally {
      reader.releaseLock();
      await this.close("client gone");
    }
  }

  /** Forwards a notification if this connection LISTENs on `channel`. */
  notify(channel: string, payload: string): void {
    if (this.#closed || !this.#listening.has(channel)) return;
    const encoder = new TextEncoder();
    const body = concat(int32(Deno.pid), cString(encoder, channel), cString(encoder, payload));
    void this.#writer.write(frame(0x41, body)).catch(() => {});
  }

  /** Rolls back whatever this connection left open, frees its statements, closes the socket. */
  close(reason: string): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      this.#clearIdleTimer();
      const gate = this.#session.gate;
      const needsSession = gate.owner === this || this.#prepared.size > 0 ||
        this.#listening.size > 0;
      if (needsSession && !this.#db.closed) {
        await gate.acquire(this);
        try {
          await this.#cleanUpSession();
        } catch (error) {
          this.#options.log({
            event: "cleanup_failed",
            connection: this.#id,
            detail: String(error),
          });
        } finally {
          gate.release(this);
        }
      } else {
        gate.release(this);
      }
      await this.#writer.close().catch(() => {});
      try {
        this.#conn.close();
      } catch {
        // Already closed by the peer.
      }
      this.#options.log({ event: "closed", connection: this.#id, detail: reason });
    })();
    return this.#closing;
  }

  async #cleanUpSession(): Promise<void> {
    // End an unfinished extended-protocol exchange, then any transaction.
    await this.#runRaw(frame(0x53, new Uint8Array(0)));
    if (this.#db.isInTransaction()) await this.#runRaw(queryMessage("ROLLBACK"));
    const statements = [...this.#prepared].map((name) => `DEALLOCATE ${quoteIdentifier(name)}`);
    this.#prepared.clear();
    const unlisten: string[] = [];
    for (const channel of this.#listening) {
      if (this.#session.externalUnlisten(channel)) {
        unlisten.push(`UNLISTEN ${quoteIdentifier(channel)}`);
      }
    }
    this.#listening.clear();
    if (statements.length + unlisten.length > 0) {
      await this.#runRaw(queryMessage([...statements, ...unlisten].join(";")));
    }
  }

  /** Runs one protocol message on the session, discarding the output (notifications still route). */
  async #runRaw(message: Uint8Array): Promise<void> {
    const splitter = new BackendSplitter();
    await this.#db.runExclusive(() =>
      this.#db.execProtocolRawStream(message, {
        onRawData: (bytes) => {
          for (const m of splitter.push(bytes)) if (m[0] === 0x41) this.#route(m);
        },
      })
    );
  }

  #nextMessage(): Uint8Array | undefined {
    const buf = this.#buffer;
    if (!this.#started) {
      if (buf.length < 8) return undefined;
      const length = readInt32(buf, 0);
      if (length < 8 || length > 10_000) throw new Error(`bad startup packet length ${length}`);
      if (buf.length < length) return undefined;
      this.#buffer = buf.slice(length);
      return buf.subarray(0, length);
    }
    if (buf.length < 5) return undefined;
    const length = readInt32(buf, 1);
    if (length < 4 || length > MAX_MESSAGE_BYTES) throw new Error(`bad message length ${length}`);
    if (buf.length < length + 1) return undefined;
    this.#buffer = buf.slice(length + 1);
    return buf.subarray(0, length + 1);
  }

  async #handle(message: Uint8Array): Promise<void> {
    if (!this.#started) {
      const code = readInt32(message, 4);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        await this.#writer.write(new TextEncoder().encode("N"));
        return;
      }
      if (code === CANCEL_REQUEST) {
        // Cancelling would interrupt whoever holds the session, maybe not the sender's query: unsupported.
        await this.close("cancel request");
        return;
      }
      if (code !== PROTOCOL_3) {
        await refuse(
          this.#conn,
          "0A000",
          `unsupported frontend protocol ${code >>> 16}.${code & 0xffff}`,
        );
        this.#closed = true;
        return;
      }
      this.#started = true;
      await this.#execute(message, true);
      return;
    }
    const type = message[0];
    if (type === 0x58) { // X: Terminate
      await this.close("terminate");
      return;
    }
    await this.#execute(this.#rewrite(message), type === 0x51 || type === 0x53);
  }

  /** Runs a message holding the gate; releases it when the session is idle at a sync point. */
  async #execute(message: Uint8Array, syncPoint: boolean): Promise<void> {
    const gate = this.#session.gate;
    await gate.acquire(this);
    this.#clearIdleTimer();
    if (this.#closed) return;
    const splitter = new BackendSplitter();
    const out: Uint8Array[] = [];
    try {
      await this.#db.runExclusive(() =>
        this.#db.execProtocolRawStream(message, {
          onRawData: (bytes) => {
            for (const m of splitter.push(bytes)) {
              if (m[0] === 0x41) {
                this.#route(m);
                continue;
              }
              if (m[0] === 0x5a) this.#status = String.fromCharCode(m[5]);
              out.push(m);
            }
          },
        })
      );
    } catch (error) {
      this.#options.log({ event: "execute_failed", connection: this.#id, detail: String(error) });
      await this.close("execute failed");
      return;
    }
    if (out.length > 0) {
      await this.#writer.write(out.length === 1 ? out[0] : concat(...out)).catch(() => {
        this.#closed = true;
      });
    }
    if (syncPoint && this.#status === "I") {
      if (this.#reassertListens) {
        this.#reassertListens = false;
        const wanted = this.#session.wantedChannels().map((c) => `LISTEN ${quoteIdentifier(c)}`);
        if (wanted.length > 0) await this.#runRaw(queryMessage(wanted.join(";")));
      }
      gate.release(this);
    } else if (gate.owner === this && !this.#closed) {
      this.#startIdleTimer();
    }
  }

  /** A NotificationResponse from the raw output: hand it to the session's router. */
  #route(message: Uint8Array): void {
    const decoder = new TextDecoder();
    let offset = 9; // type, length, pid
    const end1 = message.indexOf(0, offset);
    const channel = decoder.decode(message.subarray(offset, end1));
    offset = end1 + 1;
    const end2 = message.indexOf(0, offset);
    const payload = decoder.decode(message.subarray(offset, end2));
    // Not from inside PGlite's synchronous output callback: listeners may issue queries.
    queueMicrotask(() => this.#session.dispatch(channel, payload));
  }

  #startIdleTimer(): void {
    this.#clearIdleTimer();
    this.#idleTimer = setTimeout(() => {
      this.#options.log({ event: "idle_in_transaction_timeout", connection: this.#id });
      void (async () => {
        await this.#writer.write(errorResponse(
          "FATAL",
          "25P03",
          `terminating connection due to idle-in-transaction timeout (${this.#options.idleInTransactionTimeoutMs} ms): the embedded database has one session, shared by every connection`,
        )).catch(() => {});
        await this.close("idle in transaction");
      })();
    }, this.#options.idleInTransactionTimeoutMs);
  }

  #clearIdleTimer(): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  /** Renames named statements/portals into this connection's namespace; tracks LISTEN/UNLISTEN. */
  #rewrite(message: Uint8Array): Uint8Array {
    const type = message[0];
    const body = message.subarray(5);
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    const readString = (at: number): [string, number] => {
      const end = body.indexOf(0, at);
      if (end === -1) throw new Error("unterminated string in a frontend message");
      return [decoder.decode(body.subarray(at, end)), end + 1];
    };
    const rename = (name: string) => name === "" ? "" : this.#prefix + name;
    switch (type) {
      case 0x51: { // Q: simple query
        this.#trackListen(readString(0)[0]);
        return message;
      }
      case 0x50: { // P: Parse(name, query, ...)
        const [name, afterName] = readString(0);
        const [query] = readString(afterName);
        this.#trackListen(query);
        if (name === "") return message;
        this.#prepared.add(rename(name));
        return frame(type, concat(cString(encoder, rename(name)), body.subarray(afterName)));
      }
      case 0x42: { // B: Bind(portal, statement, ...)
        const [portal, afterPortal] = readString(0);
        const [statement, afterStatement] = readString(afterPortal);
        if (portal === "" && statement === "") return message;
        return frame(
          type,
          concat(
            cString(encoder, rename(portal)),
            cString(encoder, rename(statement)),
            body.subarray(afterStatement),
          ),
        );
      }
      case 0x45: { // E: Execute(portal, maxRows)
        const [portal, after] = readString(0);
        if (portal === "") return message;
        return frame(type, concat(cString(encoder, rename(portal)), body.subarray(after)));
      }
      case 0x44: // D: Describe('S'|'P', name)
      case 0x43: { // C: Close('S'|'P', name)
        const [name, after] = readString(1);
        if (name === "") return message;
        if (type === 0x43 && body[0] === 0x53) this.#prepared.delete(rename(name));
        return frame(
          type,
          concat(body.subarray(0, 1), cString(encoder, rename(name)), body.subarray(after)),
        );
      }
      default:
        return message;
    }
  }

  #trackListen(sql: string): void {
    if (!/listen/i.test(sql)) return;
    const statement = /(?:^|;)\s*(UN)?LISTEN\s+("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*|\*)/gi;
    for (const match of sql.matchAll(statement)) {
      const raw = match[2];
      const unlisten = Boolean(match[1]);
      if (raw === "*") {
        if (!unlisten) continue;
        for (const channel of this.#listening) this.#session.externalUnlisten(channel);
        this.#listening.clear();
        this.#reassertListens = true;
        continue;
      }
      const channel = raw.startsWith('"')
        ? raw.slice(1, -1).replaceAll('""', '"')
        : raw.toLowerCase();
      if (unlisten) {
        if (this.#listening.delete(channel)) this.#session.externalUnlisten(channel);
        this.#reassertListens = true;
      } else if (!this.#listening.has(channel)) {
        this.#listening.add(channel);
        this.#session.externalListen(channel);
      }
    }
  }
}

/** Splits PGlite's raw output into whole backend messages, across chunk boundaries. */
class BackendSplitter {
  #pending: Uint8Array = new Uint8Array(0);

  push(bytes: Uint8Array): Uint8Array[] {
    let buf = this.#pending.length === 0 ? bytes : concat(this.#pending, bytes);
    const messages: Uint8Array[] = [];
    while (buf.length >= 5) {
      const total = readInt32(buf, 1) + 1;
      if (buf.length < total) break;
      messages.push(buf.slice(0, total));
      buf = buf.subarray(total);
    }
    this.#pending = buf.slice();
    return messages;
  }
}

async function refuse(conn: Deno.TcpConn, code: string, message: string): Promise<void> {
  const writer = conn.writable.getWriter();
  try {
    await writer.write(errorResponse("FATAL", code, message));
    await writer.close();
  } catch {
    // The client left first.
  }
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

function errorResponse(severity: string, code: string, message: string): Uint8Array {
  const encoder = new TextEncoder();
  const field = (tag: string, value: string) =>
    concat(encoder.encode(tag), cString(encoder, value));
  return frame(
    0x45,
    concat(
      field("S", severity),
      field("V", severity),
      field("C", code),
      field("M", message),
      new Uint8Array([0]),
    ),
  );
}

function queryMessage(sql: string): Uint8Array {
  return frame(0x51, cString(new TextEncoder(), sql));
}

function frame(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  out[0] = type;
  new DataView(out.buffer).setInt32(1, body.length + 4);
  out.set(body, 5);
  return out;
}

function cString(encoder: TextEncoder, value: string): Uint8Array {
  return concat(encoder.encode(value), new Uint8Array([0]));
}

function int32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, value);
  return out;
}

function readInt32(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset + at, 4).getInt32(0);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(parts);
}
