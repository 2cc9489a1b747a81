/**
 * The one place this folder imports npm `semver` (node-semver 7), with its
 * types from `@types/semver`.
 *
 * @module
 */
// @ts-types="@types/semver"
import semver from "semver";

export default semver;
