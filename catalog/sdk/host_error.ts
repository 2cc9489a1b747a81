// Errors from host calls, as values: a host function returns a negative errno
// and stages {code, message} for `<namespace>.last_error`; the SDK wrappers
// turn both into a HostError so guests branch on data, not on aborts.
import { parseJson } from "./json";

/** The negative errno values host functions return (src/capability/capability_plugin.ts). */
export enum Errno {
  Denied = -1,
  NotFound = -2,
  InvalidArgument = -3,
  TooLarge = -4,
  RateLimited = -5,
  Timeout = -6,
  Unavailable = -7,
  BufferTooSmall = -8,
}

/** The name the host uses for an errno, e.g. "denied" for -1; "errno_<n>" when unknown. */
export function errnoName(errno: i32): string {
  switch (errno) {
    case Errno.Denied:
      return "denied";
    case Errno.NotFound:
      return "not_found";
    case Errno.InvalidArgument:
      return "invalid_argument";
    case Errno.TooLarge:
      return "too_large";
    case Errno.RateLimited:
      return "rate_limited";
    case Errno.Timeout:
      return "timeout";
    case Errno.Unavailable:
      return "unavailable";
    case Errno.BufferTooSmall:
      return "buffer_too_small";
  }
  return "errno_" + errno.toString();
}

/**
 * A failed host call: the errno it returned and the namespace's
 * `last_error` details.
 *
 * ```ts
 * const res = http.get("https://api.example.com/x");
 * if (!res.ok) log.warn("fetch failed: " + res.error!.toString()); // "denied: host not allowed (errno -1)"
 * ```
 */
export class HostError {
  /** The negative errno the host function returned (see {@link Errno}). */
  errno: i32;
  /** The plugin's stable code, e.g. "host_not_allowed"; the errno's name when none was staged. */
  code: string;
  /** What went wrong, for people. */
  message: string;

  constructor(errno: i32, code: string, message: string) {
    this.errno = errno;
    this.code = code;
    this.message = message;
  }

  toString(): string {
    return this.code + ": " + this.message + " (errno " + this.errno.toString() + ")";
  }
}

/** Builds a HostError from an errno and a namespace's `last_error` JSON text. */
export function hostErrorFromJson(errno: i32, lastError: string): HostError {
  const parsed = parseJson(lastError).value;
  const code = parsed ? parsed.getString("code") : null;
  const message = parsed ? parsed.getString("message") : null;
  return new HostError(
    errno,
    code != null ? code : errnoName(errno),
    message != null ? message : "",
  );
}
