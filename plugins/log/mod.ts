/**
 * The `log` capability plugin.
 *
 * @module
 */
export { logPlugin, type LogPolicy, LogPolicySchema } from "./log_plugin.ts";
