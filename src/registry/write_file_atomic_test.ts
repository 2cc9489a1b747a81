import assert from "node:assert/strict";
import { writeFileAtomic } from "./write_file_atomic.ts";

const encode = (text: string) => new TextEncoder().encode(text);

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const item of Deno.readDir(dir)) names.push(item.name);
  return names.sort();
}

Deno.test("writeFileAtomic() replaces a file and leaves no temporary file behind", async () => {
  const dir = await Deno.makeTempDir({ prefix: "write_file_atomic_test_" });
  try {
    const path = `${dir}/a.json`;
    assert.equal(await writeFileAtomic(path, encode("one")), true);
    assert.equal(await writeFileAtomic(path, encode("two")), true);
    assert.equal(await Deno.readTextFile(path), "two");
    assert.deepEqual(await entries(dir), ["a.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic() with noClobber lets exactly one of many racing writers win", async () => {
  const dir = await Deno.makeTempDir({ prefix: "write_file_atomic_test_" });
  try {
    await Deno.mkdir(`${dir}/tmp`);
    const path = `${dir}/record.json`;
    const big = (i: number) => encode(String(i).repeat(200_000));
    const results = await Promise.all(
      Array.from(
        { length: 12 },
        (_, i) => writeFileAtomic(path, big(i), { noClobber: true, tmpDir: `${dir}/tmp` }),
      ),
    );
    assert.equal(results.filter(Boolean).length, 1);
    const winner = results.indexOf(true);
    assert.deepEqual(await Deno.readFile(path), big(winner));
    assert.deepEqual(await entries(`${dir}/tmp`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic() removes its temporary file when the final write fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "write_file_atomic_test_" });
  try {
    await Deno.mkdir(`${dir}/tmp`);
    await assert.rejects(
      writeFileAtomic(`${dir}/missing/record.json`, encode("x"), { tmpDir: `${dir}/tmp` }),
      Deno.errors.NotFound,
    );
    await assert.rejects(
      writeFileAtomic(`${dir}/missing/record.json`, encode("x"), {
        tmpDir: `${dir}/tmp`,
        noClobber: true,
      }),
      Deno.errors.NotFound,
    );
    assert.deepEqual(await entries(`${dir}/tmp`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
