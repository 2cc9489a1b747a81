/**
 * Step definitions this broker has validated and resolved as served, by
 * digest (the md5 the hydration statement computes of a template's step
 * definition). A message whose step has one of these definitions, read while
 * the broker is idle, is read, hydrated and claimed in one statement
 * (`src/tasker/read_and_claim.ts`); any other takes the separate path
 * (hydrate, validate, resolve, claim) and its definition is remembered here
 * for next time.
 *
 * A definition counts only while its callable is served: a resolution
 * younger than the resolver's reuse time is taken as it is
 * (`HandlerResolver.servedNow`), an older one is made again first — what the
 * separate path's `resolve` would do — so the claim decision rests on the
 * same resolution either path would use, however rarely messages come. Those
 * look-ups run in parallel, for the callables of the `refreshLimit` most
 * recently used definitions only (a stale callable beyond them is left out
 * until the separate path resolves it again), so an idle broker's read — it
 * asks before each one, also on a poller's tick that finds nothing — waits
 * for a few registry look-ups at most; a callable found no longer served is
 * forgotten. At most `capacity` definitions
 * are kept, the most recently used; each one's digest goes into the
 * statement.
 *
 * @module
 */
import type { StepDefinition } from "../tasker/step_definition.ts";
import type { HandlerResolver, ServedHandler } from "./handler_resolver.ts";

/** What the idle path's read-and-claim statement may claim, and who runs it. */
export interface ClaimableDefinitions {
  /** Definitions by digest, for the statement. */
  definitions: Map<string, StepDefinition>;
  /** The handler each digest's callable resolved to. */
  handlers: Map<string, ServedHandler>;
}

/** Options for {@link KnownDefinitions}. */
export interface KnownDefinitionsOptions {
  /** How many definitions are kept (default 32). */
  capacity?: number;
  /** Of how many most recently used definitions a stale callable is resolved again (default 4). */
  refreshLimit?: number;
}

/** See the module doc. */
export class KnownDefinitions {
  /** In order of use, the most recent last. */
  readonly #entries = new Map<string, StepDefinition>();
  readonly #capacity: number;
  readonly #refreshLimit: number;

  constructor(options: KnownDefinitionsOptions = {}) {
    const { capacity = 32, refreshLimit = 4 } = options;
    for (const [name, value] of [["capacity", capacity], ["refreshLimit", refreshLimit]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(
          `Cannot keep known definitions as ${name} is not an integer ≥ 1: current value is ${value}`,
        );
      }
    }
    this.#capacity = capacity;
    this.#refreshLimit = refreshLimit;
  }

  /** How many definitions are kept. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Remembers a definition that validated and whose callable is served, or
   * marks it as just used (call it for every step run with it).
   */
  remember(digest: string, definition: StepDefinition): void {
    this.#entries.delete(digest);
    this.#entries.set(digest, definition);
    if (this.#entries.size > this.#capacity) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }

  /**
   * The definitions whose callable `resolver` serves now, with their
   * handlers; callables whose resolution is older than the resolver's reuse
   * time are resolved again first (a registry look-up) when one of the
   * `refreshLimit` most recently used definitions has them, and left out
   * otherwise.
   */
  async claimable(
    resolver: Pick<HandlerResolver, "servedNow" | "resolve">,
  ): Promise<ClaimableDefinitions> {
    const served = new Map<string, ServedHandler | undefined>();
    const stale: Promise<void>[] = [];
    const recentFirst = [...this.#entries.values()].reverse();
    for (const [rank, definition] of recentFirst.entries()) {
      const callable = definition.handler.callable;
      if (served.has(callable)) continue;
      served.set(callable, resolver.servedNow(callable));
      if (served.get(callable) || rank >= this.#refreshLimit) continue;
      stale.push(
        resolver.resolve(callable).then((r) => {
          if (r.served) served.set(callable, r.handler);
          else this.#forget(callable);
        }),
      );
    }
    if (stale.length > 0) await Promise.all(stale);
    const definitions = new Map<string, StepDefinition>();
    const handlers = new Map<string, ServedHandler>();
    for (const [digest, definition] of this.#entries) {
      const handler = served.get(definition.handler.callable);
      if (!handler) continue;
      definitions.set(digest, definition);
      handlers.set(digest, handler);
    }
    return { definitions, handlers };
  }

  /**
   * Drops the definitions of a callable no longer served: they are not
   * looked up again for every message (a guest that cannot load would be
   * loaded again each time); the separate path teaches them anew once the
   * callable is served again.
   */
  #forget(callable: string): void {
    for (const [digest, definition] of this.#entries) {
      if (definition.handler.callable === callable) this.#entries.delete(digest);
    }
  }
}
