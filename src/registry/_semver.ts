// deno-lint-ignore-file no-import-prefix
/**
 * The one place this folder imports npm `semver` (node-semver 7), with its
 * types from `@types/semver`.
 *
 * @module
 */
// TODO(deno.json): use the import map ("semver", "@types/semver") once it lists them.
// @ts-types="npm:@types/semver@^7.7.1"
import semver from "npm:semver@^7.7.3";

export default semver;
