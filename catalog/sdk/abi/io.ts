// Raw imports of the `io` capability. The import module name is this file's
// name ("io"): AssemblyScript names the module of a `declare function` after
// the file that declares it. We rely on that instead of `@external(...)`
// because `deno fmt` deletes decorators on functions.
// Guests use catalog/sdk/io.ts; this file is the ABI and nothing more.

/** Byte length of the step's input JSON. */
export declare function input_len(): i32;
/** Copies up to `len` bytes of the input JSON to `ptr`; returns the bytes copied. */
export declare function read_input(ptr: usize, len: i32): i32;
/** Appends `len` bytes at `ptr` to the output; 0 (exceeding the output cap faults the step). */
export declare function write_output(ptr: usize, len: i32): i32;
/** Reports failure as JSON {"message", "code"?, "retryable"?, "details"?}; 0, or -3 when malformed. */
export declare function fail(ptr: usize, len: i32): i32;
/** Copies the last error of `io` as JSON {code, message}; returns its full length. */
export declare function last_error(ptr: usize, len: i32): i32;
