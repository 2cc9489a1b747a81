// Raw imports of the `http` capability; the module name is this file's name
// (see io.ts for why there is no `@external` decorator).

/**
 * Sends the request JSON {method, url, headers?, body?} at `ptr`; returns the
 * byte length of the staged response JSON {status, headers, body, url}, or a
 * negative errno.
 */
export declare function request(ptr: usize, len: i32): i32;
/** Copies up to `len` staged bytes to `ptr`; returns how many were copied. */
export declare function read_result(ptr: usize, len: i32): i32;
/** Copies the last error of `http` as JSON {code, message}; returns its full length. */
export declare function last_error(ptr: usize, len: i32): i32;
