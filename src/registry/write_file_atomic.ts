/**
 * Writes a file so readers see either nothing or the complete content:
 * the bytes go to a temporary file, are synced to disk, then appear at the
 * final path in one step (rename, or hard link when the path must not exist).
 *
 * @module
 */
import { dirname, join } from "node:path";

/** Options for {@link writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /**
   * Directory for the temporary file; it must be on the same file system as
   * `path`. Default: the directory of `path`.
   */
  tmpDir?: string;
  /**
   * When true, never replace an existing file: the write is a hard link that
   * fails if `path` exists, so of two racing writers exactly one wins.
   * Default: false (an existing file is replaced atomically).
   */
  noClobber?: boolean;
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * Writes `data` to `path` atomically. Resolves `true` when written, `false`
 * when `noClobber` is set and `path` already existed (nothing was changed).
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./write_file_atomic.ts";
 * const dir = await Deno.makeTempDir();
 * const path = `${dir}/record.json`;
 * console.assert(await writeFileAtomic(path, new TextEncoder().encode("{}"), { noClobber: true }));
 * console.assert(!(await writeFileAtomic(path, new TextEncoder().encode("[]"), { noClobber: true })));
 * console.assert((await Deno.readTextFile(path)) === "{}");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<boolean> {
  const tmp = join(options.tmpDir ?? dirname(path), `.tmp-${crypto.randomUUID()}`);
  const file = await Deno.open(tmp, { createNew: true, write: true });
  try {
    try {
      for (let offset = 0; offset < data.length;) {
        offset += await file.write(data.subarray(offset));
      }
      // Durable before visible: a crash never leaves a published name pointing at a partial file.
      await file.sync();
    } finally {
      file.close();
    }
    if (!options.noClobber) {
      await Deno.rename(tmp, path);
      return true;
    }
    try {
      await Deno.link(tmp, path);
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return false;
      throw error;
    }
  } finally {
    // After a rename the temporary name is gone already; after a link it is a second name.
    await removeQuietly(tmp);
  }
}
