// Raw imports of the `log` capability; the module name is this file's name
// (see io.ts for why there is no `@external` decorator).

/** Logs `len` UTF-8 bytes at `ptr` with level 0-3; 0 kept, 1 dropped by a cap, -3 bad level. */
export declare function write(level: i32, ptr: usize, len: i32): i32;
/** Copies the last error of `log` as JSON {code, message}; returns its full length. */
export declare function last_error(ptr: usize, len: i32): i32;
