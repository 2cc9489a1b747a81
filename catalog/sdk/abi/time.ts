// Raw imports of the `time` capability; the module name is this file's name
// (see io.ts for why there is no `@external` decorator).

/** Wall-clock time in milliseconds since the Unix epoch. */
export declare function wall_ms(): f64;
/** Wall-clock time in nanoseconds since the Unix epoch. */
export declare function wall_ns(): i64;
/** Monotonic time in nanoseconds from an arbitrary origin. */
export declare function monotonic_ns(): i64;
/** Fills `len` bytes at `ptr` with random bytes; >= 0 on success, a negative errno on error. */
export declare function random(ptr: usize, len: i32): i32;
/** Copies the last error of `time` as JSON {code, message}; returns its full length. */
export declare function last_error(ptr: usize, len: i32): i32;
