// Raw imports of the `secrets` capability; the module name is this file's
// name (see io.ts for why there is no `@external` decorator).

/** Looks up the UTF-8 key at `ptr`; returns the staged value's byte length or a negative errno. */
export declare function get(ptr: usize, len: i32): i32;
/** Copies up to `len` staged bytes to `ptr`; returns how many were copied. */
export declare function read_result(ptr: usize, len: i32): i32;
/** Copies the last error of `secrets` as JSON {code, message}; returns its full length. */
export declare function last_error(ptr: usize, len: i32): i32;
