// The `log` capability: leveled records tagged with the step by the host.
// Each function returns false when a cap in the manifest's `limits.log`
// dropped the record (records below `limits.log.level` are skipped silently).
import * as abi from "./abi/log";

function write(level: i32, message: string): bool {
  const buf = String.UTF8.encode(message);
  return abi.write(level, changetype<usize>(buf), buf.byteLength) == 0;
}

/** Logs at level debug. */
export function debug(message: string): bool {
  return write(0, message);
}

/** Logs at level info. */
export function info(message: string): bool {
  return write(1, message);
}

/** Logs at level warn. */
export function warn(message: string): bool {
  return write(2, message);
}

/** Logs at level error. */
export function error(message: string): bool {
  return write(3, message);
}
