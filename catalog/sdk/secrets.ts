// The `secrets` capability: values the manifest grants by key. The host
// scans results, errors and logs for secret values, so a guest that echoes a
// secret fails with `secret_leak`: use secrets, never print them.
import * as abi from "./abi/secrets";
// AssemblyScript has no `import type`: type-only names are imported as values.
// deno-lint-ignore verbatim-module-syntax
import { HostError, hostErrorFromJson } from "./host_error";

/** What {@link lookup} returns: the value, or the host's error. */
export class SecretResult {
  value: string | null = null;
  error: HostError | null = null;

  get ok(): bool {
    return this.error == null;
  }

  /** The errno of a failed call; 0 on success. */
  get errno(): i32 {
    const error = this.error;
    return error ? error.errno : 0;
  }
}

/**
 * Looks up a secret, keeping the reason when there is none (not granted,
 * not found, ...).
 */
export function lookup(key: string): SecretResult {
  const buf = String.UTF8.encode(key);
  const result = new SecretResult();
  const n = abi.get(changetype<usize>(buf), buf.byteLength);
  if (n < 0) {
    result.error = lastError(n);
    return result;
  }
  const staged = new ArrayBuffer(n);
  const copied = abi.read_result(changetype<usize>(staged), n);
  result.value = String.UTF8.decode(copied == n ? staged : staged.slice(0, copied));
  return result;
}

/**
 * A secret's value, or null when the host refuses or has none; use
 * {@link lookup} to learn why.
 *
 * ```ts
 * const token = secrets.get("api_token");
 * if (token == null) return fail("api_token is not configured", "config");
 * ```
 */
export function get(key: string): string | null {
  return lookup(key).value;
}

function lastError(errno: i32): HostError {
  const n = abi.last_error(0, 0);
  const buf = new ArrayBuffer(n);
  abi.last_error(changetype<usize>(buf), n);
  return hostErrorFromJson(errno, String.UTF8.decode(buf));
}
