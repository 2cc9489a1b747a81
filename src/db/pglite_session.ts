/**
 * The one PostgreSQL session inside a PGlite instance, shared by everything
 * that talks to it: the in-process {@link PgliteClient} and every connection
 * of the embedded socket server. PGlite has a single backend, so a
 * transaction is a property of the whole instance, not of a caller.
 *
 * PGlite's own locks are not enough for sharing: `transaction()` holds its
 * transaction mutex for the whole transaction but the query mutex (the one
 * `runExclusive` and `@electric-sql/pglite-socket` use) only per statement,
 * so a socket client's statement can land inside an in-process transaction;
 * and plain `query()` never checks whether a socket client has left a
 * `BEGIN` open. This module adds the missing piece: a FIFO {@link SessionGate}
 * whose holder owns the session until it is idle (ReadyForQuery `I`) again.
 *
 * It also routes notifications: PGlite reports the ones raised by in-process
 * statements through `onNotification`, the socket server parses the ones in
 * its clients' raw output; both end in {@link PgliteSession.dispatch}, which
 * calls in-process listeners and the socket server's tap.
 *
 * @module
 */
import type { PGlite } from "@electric-sql/pglite";
import { quoteIdentifier } from "./quote_identifier.ts";

/**
 * A FIFO lock with owners: {@link acquire} by the current owner returns at
 * once (a socket connection holds the gate across the messages of one
 * transaction), anyone else waits their turn.
 */
export class SessionGate {
  #owner: object | undefined;
  readonly #waiters: { owner: object; granted: Promise<void>; grant: () => void }[] = [];

  /** The current owner, if any. */
  get owner(): object | undefined {
    return this.#owner;
  }

  /** Number of owners waiting. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves once `owner` holds the gate (the same promise for an owner already waiting). */
  acquire(owner: object): Promise<void> {
    if (this.#owner === owner) return Promise.resolve();
    if (this.#owner === undefined && this.#waiters.length === 0) {
      this.#owner = owner;
      return Promise.resolve();
    }
    const queued = this.#waiters.find((w) => w.owner === owner);
    if (queued) return queued.granted;
    let grant!: () => void;
    const granted = new Promise<void>((resolve) => grant = resolve);
    this.#waiters.push({ owner, granted, grant });
    return granted;
  }

  /** Gives the gate to the next waiter; a no-op unless `owner` holds it. */
  release(owner: object): void {
    if (this.#owner !== owner) return;
    const next = this.#waiters.shift();
    this.#owner = next?.owner;
    next?.grant();
  }

  /** Runs `fn` holding the gate as a fresh owner. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const owner = {};
    await this.acquire(owner);
    try {
      return await fn();
    } finally {
      this.release(owner);
    }
  }
}

/** Receives every notification the session sees (the socket server forwards them to its clients). */
export type NotificationTap = (channel: string, payload: string) => void;

/** The shared state of one PGlite instance; get it with {@link pgliteSession}. */
export class PgliteSession {
  readonly db: PGlite;
  readonly gate = new SessionGate();
  readonly #listeners = new Map<string, Set<(payload: string) => void>>();
  readonly #taps = new Set<NotificationTap>();
  /** Channels other parties (socket connections) need LISTENed; counted per party. */
  readonly #externalChannels = new Map<string, number>();

  constructor(db: PGlite) {
    this.db = db;
    db.onNotification((channel, payload) => this.dispatch(channel, payload));
  }

  /** Delivers one notification to in-process listeners and taps. */
  dispatch(channel: string, payload: string): void {
    for (const callback of this.#listeners.get(channel) ?? []) {
      try {
        callback(payload);
      } catch {
        // One throwing listener must not starve the others.
      }
    }
    for (const tap of this.#taps) tap(channel, payload);
  }

  /** Adds a tap; returns the function that removes it. */
  addTap(tap: NotificationTap): () => void {
    this.#taps.add(tap);
    return () => this.#taps.delete(tap);
  }

  /** LISTENs on `channel` for an in-process callback; resolves once listening. */
  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    const callback = (payload: string) => onNotify(payload);
    let set = this.#listeners.get(channel);
    const first = !set;
    if (!set) this.#listeners.set(channel, set = new Set());
    set.add(callback);
    if (first) {
      try {
        await this.gate.run(() => this.db.exec(`LISTEN ${quoteIdentifier(channel)}`));
      } catch (error) {
        set.delete(callback);
        if (set.size === 0) this.#listeners.delete(channel);
        throw error;
      }
    }
    let stopped = false;
    return async () => {
      if (stopped) return;
      stopped = true;
      const current = this.#listeners.get(channel);
      current?.delete(callback);
      if (current && current.size === 0) {
        this.#listeners.delete(channel);
        if (!this.#externalChannels.has(channel) && !this.db.closed) {
          await this.gate.run(() => this.db.exec(`UNLISTEN ${quoteIdentifier(channel)}`));
        }
      }
    };
  }

  /** Records that a socket connection LISTENs on `channel` (it issued the LISTEN itself). */
  externalListen(channel: string): void {
    this.#externalChannels.set(channel, (this.#externalChannels.get(channel) ?? 0) + 1);
  }

  /**
   * Records that a socket connection stopped listening; returns whether
   * nobody needs the channel any more (the caller may UNLISTEN it).
   */
  externalUnlisten(channel: string): boolean {
    const count = (this.#externalChannels.get(channel) ?? 0) - 1;
    if (count > 0) this.#externalChannels.set(channel, count);
    else this.#externalChannels.delete(channel);
    return count <= 0 && !this.#listeners.has(channel);
  }

  /**
   * Channels that must stay LISTENed: a socket client's `UNLISTEN` acts on
   * the whole session, so after one the socket server re-LISTENs these.
   */
  wantedChannels(): string[] {
    return [...new Set([...this.#listeners.keys(), ...this.#externalChannels.keys()])];
  }
}

const sessions = new WeakMap<PGlite, PgliteSession>();

/**
 * The {@link PgliteSession} of `db` (created on first use, one per instance).
 *
 * @example
 * ```ts ignore
 * import { pgliteSession } from "./pglite_session.ts";
 * const session = pgliteSession(db);
 * await session.gate.run(() => db.exec("SELECT 1"));
 * ```
 */
export function pgliteSession(db: PGlite): PgliteSession {
  let session = sessions.get(db);
  if (!session) sessions.set(db, session = new PgliteSession(db));
  return session;
}
