/**
 * An example capability plugin that lives outside `src/` and `plugins/`: an
 * in-memory key-value store a guest reaches under the import namespace `kv`.
 * It is the worked example of docs/extending.md.
 *
 * Manifest section:
 *
 * ```json
 * { "kv": { "namespaces": ["cache"], "max_value_bytes": 65536, "max_bytes": 4194304 } }
 * ```
 *
 * Guest functions (UTF-8 strings as pointer + length):
 *
 * - `kv.get(ns, ns_len, key, key_len) -> i32`: stages the value for
 *   `kv.read_result` and returns its length; -2 when the key is absent.
 * - `kv.put(ns, ns_len, key, key_len, value, value_len) -> i32`: 0 when
 *   stored; -4 when the value or the namespace would exceed its cap.
 * - `kv.delete(ns, ns_len, key, key_len) -> i32`: 1 when a value was
 *   removed, 0 when there was none.
 *
 * Every call with a namespace the manifest does not list is denied (-1,
 * `namespace_undeclared`).
 *
 * **Where the data lives.** The store is a `Map` in the process that runs
 * the plugin's sandbox half: the broker process with the in-process
 * executor, or each sandbox process otherwise (a sandbox re-creates the
 * plugin from {@link CapabilityPlugin.source} with a fresh store). So values
 * are shared only between steps that run in the same process, and vanish
 * when that process exits: a per-process cache, not a database.
 *
 * **Isolation.** Entries are keyed by the step's handler name and the
 * namespace, so two handlers that both declare `cache` never see each
 * other's entries; steps of one handler share them (that is the point). The
 * handler name is the boundary: guests loaded under the same name share
 * their namespaces.
 *
 * @module
 */
import { z } from "zod";
import type { CapabilityPlugin } from "../../src/capability/capability_plugin.ts";
import { describeValue } from "../../src/manifest/format_issues.ts";

/** Namespace names: lower-case letter, then letters, digits, `_` or `-`, 63 at most. */
export const KV_NAMESPACE_PATTERN: RegExp = /^[a-z][a-z0-9_-]{0,62}$/;
/** Longest key, in UTF-8 bytes. */
export const MAX_KV_KEY_BYTES = 256;
/** Bytes every entry costs on top of its key and value (Map bookkeeping), counted against `max_bytes`. */
export const KV_ENTRY_OVERHEAD_BYTES = 64;

/** The `kv` manifest section. */
export const KvPolicySchema = z.strictObject({
  /** Namespaces the guest may use; empty or absent: none. */
  namespaces: z.array(
    z.string().regex(KV_NAMESPACE_PATTERN, {
      error: (issue) =>
        `expected a namespace such as "cache" (a-z, 0-9, _ and -, starting with a letter), got ${
          describeValue(issue.input)
        }`,
    }),
  ).max(16).default([]).superRefine((names, ctx) => {
    const seen = new Set<string>();
    names.forEach((name, index) => {
      if (seen.has(name)) {
        ctx.addIssue({ code: "custom", message: `duplicate namespace "${name}"`, path: [index] });
      }
      seen.add(name);
    });
  }),
  /** Largest value one `put` may store. */
  max_value_bytes: z.number().int().min(1).max(1024 * 1024).default(64 * 1024),
  /** Most bytes one namespace may hold: keys, values and {@link KV_ENTRY_OVERHEAD_BYTES} per entry. */
  max_bytes: z.number().int().min(1).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
});
/** Parsed `kv` section. */
export type KvPolicy = z.output<typeof KvPolicySchema>;

/** One namespace of one handler. */
export interface KvNamespace {
  readonly entries: Map<string, Uint8Array<ArrayBuffer>>;
  /** Bytes charged against `max_bytes`. */
  bytes: number;
}

/** The whole store: namespaces keyed by `JSON.stringify([handler, namespace])`. */
export type KvStore = Map<string, KvNamespace>;

/** Options for {@link kvPlugin}. */
export interface KvPluginOptions {
  /** The store to use; a fresh one by default. Pass one to inspect or share it in tests. */
  store?: KvStore;
}

const encoder = new TextEncoder();

/**
 * Creates the `kv` capability plugin.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ioPlugin } from "../../plugins/io/mod.ts";
 * import { Runtime } from "../../src/runtime/runtime.ts";
 * import { kvPlugin } from "./kv_plugin.ts";
 * const runtime = new Runtime({ plugins: [ioPlugin(), kvPlugin()] });
 * assert.deepEqual(runtime.registry.names(), ["io", "kv"]);
 * const manifest = runtime.parseManifest({ capabilities: { kv: { namespaces: ["cache"] } } });
 * assert.deepEqual(manifest.capabilities.kv, {
 *   namespaces: ["cache"],
 *   max_value_bytes: 65536,
 *   max_bytes: 4194304,
 * });
 * await runtime.close();
 * ```
 */
export function kvPlugin(options: KvPluginOptions = {}): CapabilityPlugin<KvPolicy> {
  const store: KvStore = options.store ?? new Map();
  return {
    name: "kv",
    description: "Get, put and delete values in declared in-memory namespaces (per handler)",
    schema: KvPolicySchema,
    functions: {
      get: {
        params: ["i32", "i32", "i32", "i32"],
        results: ["i32"],
        doc: "Stages the value of (namespace, key); returns its length, -2 when absent",
      },
      put: {
        params: ["i32", "i32", "i32", "i32", "i32", "i32"],
        results: ["i32"],
        doc: "Stores the value for (namespace, key); 0, or -4 when a cap would be exceeded",
      },
      delete: {
        params: ["i32", "i32", "i32", "i32"],
        results: ["i32"],
        doc: "Removes (namespace, key); 1 when removed, 0 when absent",
      },
    },
    defaultBudget: 10_000,
    // A sandbox process calls kvPlugin() with no options: its own, empty store.
    source: { module: import.meta.url, factory: "kvPlugin" },
    instantiate(ctx) {
      const declared = new Set(ctx.policy.namespaces);

      /** The namespace named at (ptr, len), or a negative errno. */
      const namespace = (ptr: number, len: number): KvNamespace | number => {
        ctx.memory.view(ptr, len); // bounds check before reading anything
        const name = (len >>> 0) <= 63 ? ctx.memory.readString(ptr, len) : null;
        if (name === null || !declared.has(name)) {
          const shown = name === null ? `of ${len >>> 0} bytes` : JSON.stringify(name);
          return ctx.deny(
            "denied",
            "namespace_undeclared",
            `Cannot use namespace ${shown} as the manifest does not declare it (declared: ${
              [...declared].join(", ") || "none"
            })`,
          );
        }
        const id = JSON.stringify([ctx.step.handler, name]);
        let ns = store.get(id);
        if (!ns) store.set(id, ns = { entries: new Map(), bytes: 0 });
        return ns;
      };

      /** The key at (ptr, len), or a negative errno. */
      const key = (ptr: number, len: number): string | number => {
        const n = len >>> 0;
        ctx.memory.view(ptr, n);
        const text = n >= 1 && n <= MAX_KV_KEY_BYTES ? ctx.memory.readString(ptr, n) : null;
        if (text === null) {
          return ctx.fail(
            "invalid_argument",
            "invalid_key",
            `expected a UTF-8 key of 1 to ${MAX_KV_KEY_BYTES} bytes, got ${n} bytes`,
          );
        }
        return text;
      };

      return {
        get: (nsPtr: number, nsLen: number, keyPtr: number, keyLen: number) => {
          const ns = namespace(nsPtr, nsLen);
          if (typeof ns === "number") return ns;
          const k = key(keyPtr, keyLen);
          if (typeof k === "number") return k;
          const value = ns.entries.get(k);
          if (!value) {
            return ctx.fail("not_found", "key_missing", `no value for key ${JSON.stringify(k)}`);
          }
          return ctx.stage(value);
        },
        put: (
          nsPtr: number,
          nsLen: number,
          keyPtr: number,
          keyLen: number,
          valuePtr: number,
          valueLen: number,
        ) => {
          const ns = namespace(nsPtr, nsLen);
          if (typeof ns === "number") return ns;
          const k = key(keyPtr, keyLen);
          if (typeof k === "number") return k;
          const size = valueLen >>> 0;
          ctx.memory.view(valuePtr, size);
          const limit = ctx.policy.max_value_bytes;
          if (size > limit) {
            return ctx.deny(
              "too_large",
              "value_too_large",
              `Cannot store ${size} bytes as max_value_bytes is ${limit}`,
            );
          }
          const old = ns.entries.get(k);
          const cost = old ? size - old.length : size + encoder.encode(k).length +
            KV_ENTRY_OVERHEAD_BYTES;
          if (ns.bytes + cost > ctx.policy.max_bytes) {
            return ctx.deny(
              "too_large",
              "namespace_full",
              `Cannot store ${size} bytes as the namespace would exceed max_bytes (${ctx.policy.max_bytes}): it holds ${ns.bytes}`,
            );
          }
          ns.entries.set(k, ctx.memory.read(valuePtr, size) as Uint8Array<ArrayBuffer>);
          ns.bytes += cost;
          return 0;
        },
        delete: (nsPtr: number, nsLen: number, keyPtr: number, keyLen: number) => {
          const ns = namespace(nsPtr, nsLen);
          if (typeof ns === "number") return ns;
          const k = key(keyPtr, keyLen);
          if (typeof k === "number") return k;
          const old = ns.entries.get(k);
          if (!old) return 0;
          ns.entries.delete(k);
          ns.bytes -= old.length + encoder.encode(k).length + KV_ENTRY_OVERHEAD_BYTES;
          return 1;
        },
      };
    },
  };
}
