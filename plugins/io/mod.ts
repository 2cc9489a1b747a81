/**
 * The `io` capability plugin: step input and output.
 *
 * @module
 */
export { ioPlugin, type IoPolicy, IoPolicySchema } from "./io_plugin.ts";
