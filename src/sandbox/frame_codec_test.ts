import assert from "node:assert/strict";
import { encodeFrame, type Frame, FrameDecoder, FrameError } from "./frame_codec.ts";

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
};

/** A deterministic pseudo-random byte pattern. */
function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

Deno.test("FrameDecoder reassembles a frame fed one byte at a time", () => {
  const bytes = concat(encodeFrame({ t: "run", id: 7, step: { stepId: "é" } }, pattern(300, 1)));
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  for (let i = 0; i < bytes.length; i++) frames.push(...decoder.push(bytes.subarray(i, i + 1)));
  assert.equal(frames.length, 1);
  assert.deepEqual(frames[0].header, { t: "run", id: 7, step: { stepId: "é" } });
  assert.deepEqual(frames[0].payload, pattern(300, 1));
  assert.equal(decoder.buffered, 0);
});

Deno.test("FrameDecoder returns every frame of a chunk that holds several, in order", () => {
  const bytes = concat([
    ...encodeFrame({ t: "a" }),
    ...encodeFrame({ t: "b" }, new Uint8Array([1, 2])),
    ...encodeFrame({ t: "c" }, new Uint8Array(0)),
  ]);
  const frames = new FrameDecoder().push(bytes);
  assert.deepEqual(frames.map((f) => f.header.t), ["a", "b", "c"]);
  assert.deepEqual([...frames[1].payload], [1, 2]);
  assert.equal(frames[0].payload.length, 0);
  assert.equal(frames[2].payload.length, 0);
});

Deno.test("FrameDecoder keeps a partial frame until the rest arrives", () => {
  const bytes = concat(encodeFrame({ t: "x" }, pattern(10, 2)));
  const decoder = new FrameDecoder();
  assert.deepEqual(decoder.push(bytes.subarray(0, 5)), []); // inside the prefix
  assert.deepEqual(decoder.push(bytes.subarray(5, 20)), []); // inside the header/payload
  assert.equal(decoder.buffered, 20);
  const [frame] = decoder.push(bytes.subarray(20));
  assert.deepEqual(frame.payload, pattern(10, 2));
});

Deno.test("FrameDecoder round-trips a 20 MiB payload split at random points", () => {
  const payload = pattern(20 * 1024 * 1024, 3);
  const parts = encodeFrame({ t: "load", digest: "d" }, payload);
  assert.equal(parts.length, 2, "a large payload is not copied into the header buffer");
  assert.equal(parts[1], payload);
  const bytes = concat([...parts, ...encodeFrame({ t: "after" })]);
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  let offset = 0;
  let seed = 12345;
  while (offset < bytes.length) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const size = 1 + (seed % 200_000);
    frames.push(...decoder.push(bytes.subarray(offset, offset + size)));
    offset += size;
  }
  assert.deepEqual(frames.map((f) => f.header.t), ["load", "after"]);
  assert.equal(frames[0].payload.length, payload.length);
  assert.ok(frames[0].payload.every((b, i) => b === payload[i]));
});

Deno.test("FrameDecoder returns views, not copies, for a frame inside one chunk", () => {
  const bytes = concat(encodeFrame({ t: "x" }, pattern(100, 4)));
  const [frame] = new FrameDecoder().push(bytes);
  assert.equal(frame.payload.buffer, bytes.buffer);
});

Deno.test("FrameDecoder rejects a stream that is out of step", () => {
  const decoder = new FrameDecoder();
  assert.throws(() => decoder.push(new TextEncoder().encode("hello, not a frame")), FrameError);
});

Deno.test("FrameDecoder rejects a header or payload above its limits before buffering it", () => {
  const [bytes] = encodeFrame({ t: "x", pad: "y".repeat(100) }, pattern(10, 5));
  assert.throws(() => new FrameDecoder({ maxHeaderBytes: 50 }).push(bytes.subarray(0, 12)), {
    name: "FrameError",
    message: /header exceeds 50 bytes/,
  });
  assert.throws(() => new FrameDecoder({ maxPayloadBytes: 5 }).push(bytes.subarray(0, 12)), {
    name: "FrameError",
    message: /payload exceeds 5 bytes/,
  });
});

Deno.test("FrameDecoder rejects a header that is not an object with a string t", () => {
  for (const header of ["[1]", '{"t":1}', "nope", "null"]) {
    const json = new TextEncoder().encode(header);
    const bytes = new Uint8Array(12 + json.length);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, 0x31464257, true);
    view.setUint32(4, json.length, true);
    view.setUint32(8, 0, true);
    bytes.set(json, 12);
    assert.throws(() => new FrameDecoder().push(bytes), FrameError, header);
  }
});
