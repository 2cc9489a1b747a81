/**
 * `deno task registry <publish|list|show>`: publishes and inspects the
 * versioned, digest-pinned guests the broker resolves `handler.callable`
 * against (see docs/registry.md).
 *
 * ```sh
 * deno task registry publish build/transform.wasm --name catalog.transform \
 *   --version 1.2.0 --manifest transform.manifest.json --config-schema config.schema.json
 * deno task registry list
 * deno task registry show catalog.transform@^1
 * ```
 *
 * Exit status: 0 done, 1 refused (version conflict, digest mismatch, not
 * found, lock held, damaged registry), 2 usage or invalid input.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { WasmBrokerError } from "../errors.ts";
import { FileRegistry, type GuestSummary, type PublishResult } from "../registry/file_registry.ts";
import { type GuestMetadata, MAX_DESCRIPTION_LENGTH } from "../registry/guest_metadata.ts";
import { RegistryError } from "../registry/registry_error.ts";

const REGISTRY_OPTION =
  `  --registry <dir>   Registry root (default: $WASM_BROKER_DATA_DIR/registry, else ./data/registry)`;

const USAGE = `Usage: deno task registry <command> [options]

Publishes and inspects versioned, digest-pinned guests (docs/registry.md).

Commands:
  publish <guest.wasm> --name <name> --version <version> --manifest <file>
                     Publish one version of a guest (immutable once published)
  list               List published guests and their versions
  show <name>[@<version or range>]
                     Show the version a callable resolves to, after checking its digest

Options:
${REGISTRY_OPTION}
  --json             Print JSON
  -h, --help         Show help; "<command> --help" shows a command's options

Exit status: 0 done, 1 refused (version conflict, digest mismatch, not found,
lock held, damaged registry), 2 usage or invalid input.
`;

const PUBLISH_USAGE =
  `Usage: deno task registry publish <guest.wasm> --name <name> --version <version> --manifest <file> [options]

Publishes one version of a guest. The manifest is validated against the
built-in capabilities and the module's imports and limits against the
manifest (the module is not compiled). A published version never changes:
publishing it again with identical content is a no-op ("unchanged"), with
different content it is refused (exit 1).

Options:
  --name <name>             Guest name: lowercase identifiers joined by "." (catalog.transform)
  --version <version>       SemVer 2.0 version without build metadata (1.2.0, 2.0.0-rc.1)
  --manifest <file>         Manifest JSON
  --config-schema <file>    JSON Schema (2020-12) of the step's handler.initialization
  --description <text>      What the guest does (at most ${MAX_DESCRIPTION_LENGTH} characters)
${REGISTRY_OPTION}
  --json                    Print the result as JSON
  -h, --help                Show this help
`;

const LIST_USAGE = `Usage: deno task registry list [options]

Lists every published guest with its versions (lowest first) and the version
its bare name resolves to (the highest that is not a prerelease).

Options:
${REGISTRY_OPTION}
  --json             Print JSON: [{"name", "versions", "latest"}]
  -h, --help         Show this help
`;

const SHOW_USAGE = `Usage: deno task registry show <name>[@<version or range>] [options]

Resolves a callable exactly as the broker does, checks the module against its
digest and prints the record. Callables:
  catalog.transform               highest version that is not a prerelease
  catalog.transform@1.2.0         exactly 1.2.0
  catalog.transform@^1            highest 1.x.y ("~1.2", ">=1.0.0 <2" work too)
  catalog.transform@^2.0.0-rc.0   prereleases of 2.0.0 and any 2.x.y release

Options:
${REGISTRY_OPTION}
  --json             Print the record as JSON, plus "versions" (all published)
  -h, --help         Show this help
`;

/** Where {@link main} writes; the terminal by default. */
export interface RegistryCliIo {
  out(line: string): void;
  err(line: string): void;
}

const terminal: RegistryCliIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/** Bad arguments or unreadable input files: exit 2. */
class UsageError extends Error {}

const INVALID_INPUT_CODES: readonly string[] = [
  "callable_invalid",
  "config_schema_invalid",
  "manifest_invalid",
  "module_invalid",
  "memory_limit",
  "table_limit",
  "unknown_import",
];

/** 2 for invalid input, 1 for a refusal, undefined for anything else (a bug: rethrown). */
function exitStatusOf(error: unknown): 1 | 2 | undefined {
  if (error instanceof UsageError) return 2;
  if (error instanceof RegistryError || error instanceof WasmBrokerError) {
    return INVALID_INPUT_CODES.includes(error.code) ? 2 : 1;
  }
  return undefined;
}

async function readInput(path: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    throw new UsageError(`Cannot read ${what} "${path}": ${(error as Error).message}`);
  }
}

async function readJson(path: string, what: string): Promise<unknown> {
  const text = new TextDecoder().decode(await readInput(path, what));
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`Cannot parse ${what} "${path}" as JSON: ${(error as Error).message}`);
  }
}

function required(value: string | undefined, option: string, command: string): string {
  if (value === undefined || value === "") {
    throw new UsageError(`Cannot ${command} as --${option} is required`);
  }
  return value;
}

function onePositional(positionals: string[], what: string, command: string): string {
  if (positionals.length !== 1) {
    throw new UsageError(
      `Cannot ${command} as exactly one ${what} is needed: current value is ${
        JSON.stringify(positionals)
      }`,
    );
  }
  return positionals[0];
}

async function publish(
  args: string[],
  io: RegistryCliIo,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      version: { type: "string" },
      manifest: { type: "string" },
      "config-schema": { type: "string" },
      description: { type: "string" },
      registry: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.out(PUBLISH_USAGE);
    return 0;
  }
  const modulePath = onePositional(positionals, "module file (guest.wasm)", "publish");
  const name = required(values.name, "name", "publish");
  const version = required(values.version, "version", "publish");
  const manifestPath = required(values.manifest, "manifest", "publish");
  const description = values.description;
  if (description !== undefined && description.length > MAX_DESCRIPTION_LENGTH) {
    throw new UsageError(
      `Cannot publish as --description must be at most ${MAX_DESCRIPTION_LENGTH} characters: current length is ${description.length}`,
    );
  }
  const module = await readInput(modulePath, "module");
  const manifest = await readJson(manifestPath, "manifest");
  const configSchema = values["config-schema"] === undefined
    ? undefined
    : await readJson(values["config-schema"], "config schema");
  const registry = new FileRegistry(values.registry);
  const result = await registry.publish({
    name,
    version,
    module,
    manifest,
    configSchema,
    description,
    manifestSource: manifestPath,
  });
  if (values.json) io.out(JSON.stringify(result, null, 2));
  else io.out(describePublish(result, registry.root));
  return 0;
}

function describePublish(result: PublishResult, root: string): string {
  const m = result.metadata;
  return result.status === "published"
    ? `published ${m.name}@${m.version} (sha256 ${m.sha256}, ${m.size} bytes) in ${root}`
    : `unchanged ${m.name}@${m.version}: identical content was published at ${m.published_at} ` +
      `(sha256 ${m.sha256})`;
}

async function list(args: string[], io: RegistryCliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      registry: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.out(LIST_USAGE);
    return 0;
  }
  if (positionals.length) {
    throw new UsageError(
      `Cannot list as list takes no arguments: current value is ${JSON.stringify(positionals)}`,
    );
  }
  const registry = new FileRegistry(values.registry);
  const guests = await registry.list();
  if (values.json) io.out(JSON.stringify(guests, null, 2));
  else if (guests.length === 0) io.out(`no guests published in ${registry.root}`);
  else for (const line of formatList(guests)) io.out(line);
  return 0;
}

function formatList(guests: readonly GuestSummary[]): string[] {
  const width = Math.max(...guests.map((g) => g.name.length));
  return guests.map((g) =>
    `${g.name.padEnd(width)}  ${g.versions.join(", ")}  (latest: ${
      g.latest ?? "none, only prereleases"
    })`
  );
}

async function show(args: string[], io: RegistryCliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      registry: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.out(SHOW_USAGE);
    return 0;
  }
  const callable = onePositional(positionals, "<name>[@<version or range>]", "show");
  const registry = new FileRegistry(values.registry);
  const resolved = await registry.resolve(callable);
  // Show nothing a broker would refuse to run.
  const { metadata } = await registry.load(resolved.name, resolved.version);
  const versions = (await registry.versions(metadata.name)).map((m) => m.version);
  if (values.json) io.out(JSON.stringify({ ...metadata, versions }, null, 2));
  else io.out(formatShow(metadata, versions));
  return 0;
}

function formatShow(m: GuestMetadata, versions: readonly string[]): string {
  const capabilities = Object.keys(
    (m.manifest.capabilities ?? {}) as Record<string, unknown>,
  );
  const rows: [string, string][] = [
    ["sha256", `${m.sha256} (verified)`],
    ["size", `${m.size} bytes`],
    ["published_at", m.published_at],
    ["description", m.description ?? "(none)"],
    ["capabilities", capabilities.join(", ") || "(none)"],
    ["config schema", m.config_schema === undefined ? "(none)" : "yes (--json prints it)"],
    ["versions", versions.join(", ")],
  ];
  return [
    `${m.name}@${m.version}`,
    ...rows.map(([k, v]) => `  ${`${k}:`.padEnd(15)}${v}`),
    "manifest:",
    JSON.stringify(m.manifest, null, 2),
  ].join("\n");
}

const COMMANDS: Record<string, (args: string[], io: RegistryCliIo) => Promise<number>> = {
  publish,
  list,
  show,
};

/**
 * Runs the command with `args` (without the program name); resolves with
 * the exit status.
 *
 * @example
 * ```ts ignore
 * import { main } from "./registry.ts";
 * const status = await main(["show", "catalog.transform@^1", "--registry", "/tmp/registry"]);
 * ```
 */
export async function main(args: string[], io: RegistryCliIo = terminal): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "-h" || command === "--help") {
    if (command === undefined) {
      io.err(`Cannot run as a command is needed\n\n${USAGE}`);
      return 2;
    }
    io.out(USAGE);
    return 0;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!run) {
    io.err(
      `Cannot run as the command must be publish, list or show: current value is ${
        JSON.stringify(command)
      }\n\n${USAGE}`,
    );
    return 2;
  }
  try {
    return await run(rest, io);
  } catch (error) {
    const status = exitStatusOf(error);
    if (status === undefined) {
      // parseArgs reports unknown options and missing values with a TypeError and a code.
      if ((error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
        io.err(`${(error as Error).message} (see "registry ${command} --help")`);
        return 2;
      }
      throw error;
    }
    io.err((error as Error).message);
    return status;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
