/**
 * Runs a catalog handler both ways — its wasm build through the runtime and
 * its native build in this process — and compares the outcomes. Used by the
 * differential tests in tests/catalog/.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { builtinPlugins, type BuiltinPluginsOptions } from "../../plugins/builtin_plugins.ts";
import { buildHandler, CATALOG_DIR } from "../../src/build/catalog_build.ts";
import { type LoadedGuest, Runtime } from "../../src/runtime/runtime.ts";
import type { StepOutcome } from "../../src/runtime/step_outcome.ts";
import type { Handler } from "../../catalog/core/run_handler.ts";
import { type NativeOutcome, runNative } from "../../catalog/native/run_native.ts";

/** Both builds of one handler, ready to run. */
export interface HandlerUnderTest {
  name: string;
  native: Handler;
  guest: LoadedGuest;
  runtime: Runtime;
}

const loaded = new Map<string, Promise<HandlerUnderTest>>();

/**
 * Builds (once per process) and loads a handler. The wasm build runs in
 * process: differential tests run hundreds of cases and need no kill switch;
 * sandboxed runs are covered by the integration tests.
 */
export function loadHandler(
  name: string,
  options: { manifest?: unknown; plugins?: BuiltinPluginsOptions } = {},
): Promise<HandlerUnderTest> {
  const key = `${name}:${JSON.stringify(options.manifest ?? null)}`;
  let entry = loaded.get(key);
  if (!entry) {
    entry = (async () => {
      const dir = join(CATALOG_DIR, "handlers", name);
      const built = await buildHandler(dir);
      const module = await import(join(dir, `${name}.ts`));
      const runtime = new Runtime({ plugins: builtinPlugins(options.plugins) });
      const guest = await runtime.load(built.binary, options.manifest ?? built.manifest, { name });
      return { name, native: module.handle as Handler, guest, runtime };
    })();
    loaded.set(key, entry);
  }
  return entry;
}

/** The outcomes of one envelope through both builds. */
export interface BothOutcomes {
  native: NativeOutcome;
  wasm: StepOutcome;
}

/** Runs `envelope` through both builds. */
export async function runBoth(h: HandlerUnderTest, envelope: unknown): Promise<BothOutcomes> {
  const text = JSON.stringify(envelope);
  const native = runNative(h.native, text);
  const wasm = await h.runtime.execute(h.guest, new TextEncoder().encode(text));
  return { native, wasm };
}

/** Asserts that both builds agree: same result, or the same coded failure. */
export function assertSameOutcome({ native, wasm }: BothOutcomes, label = ""): void {
  if (native.ok) {
    assert.equal(
      wasm.status,
      "completed",
      `${label} wasm failed where native succeeded: ${JSON.stringify(wasm.error)}`,
    );
    assert.deepEqual(wasm.result, JSON.parse(native.resultJson), label);
    return;
  }
  assert.equal(
    wasm.status,
    "failed",
    `${label} wasm succeeded where native failed: ${JSON.stringify(native.failure)}`,
  );
  assert.equal(wasm.error?.code, "handler_error", `${label} ${JSON.stringify(wasm.error)}`);
  assert.equal(wasm.error?.message, native.failure.message, label);
  assert.equal(wasm.error?.retryable, native.failure.retryable, label);
  assert.equal(wasm.error?.details?.guest_code, native.failure.code, label);
  assert.deepEqual(wasm.error?.details?.guest_details, native.failure.details, label);
}

/**
 * Runs every example in `catalog/handlers/<name>/examples/` through both
 * builds: they must agree, and give the example's documented result or
 * failure code.
 */
export async function assertExamples(h: HandlerUnderTest): Promise<void> {
  const dir = join(CATALOG_DIR, "handlers", h.name, "examples");
  let count = 0;
  for await (const entry of Deno.readDir(dir)) {
    const example = JSON.parse(await Deno.readTextFile(join(dir, entry.name)));
    const both = await runBoth(h, example.envelope);
    assertSameOutcome(both, entry.name);
    if ("result" in example.expect) {
      assert.deepEqual(both.wasm.result, example.expect.result, entry.name);
    } else {
      assert.equal(both.wasm.error?.details?.guest_code, example.expect.failure.code, entry.name);
    }
    count++;
  }
  assert.ok(count > 0, `${h.name} has no examples`);
}

/** A handler's example file: an envelope and its documented outcome. */
export interface HandlerExample {
  description?: string;
  envelope: unknown;
  expect: { result?: unknown; failure?: { code: string } };
}

/** A JSON file of a handler, e.g. `manifest.json` or `examples/x.json`, parsed. */
export async function handlerJson<T = Record<string, unknown>>(
  name: string,
  file: string,
): Promise<T> {
  return JSON.parse(await Deno.readTextFile(join(CATALOG_DIR, "handlers", name, file)));
}

/** `limits.memory` of a handler's manifest, in bytes (as the runtime parses it). */
export async function manifestMemoryBytes(h: HandlerUnderTest): Promise<number> {
  const manifest = h.runtime.parseManifest(await handlerJson(h.name, "manifest.json"));
  return manifest.limits.memory * 65536;
}
