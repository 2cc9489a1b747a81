/**
 * Imported first in a sandbox process: sends `console.log` and friends to
 * stderr, because stdout carries the frames to the broker and one stray
 * line from a plugin would corrupt the stream.
 *
 * @module
 */

const toStderr = console.error.bind(console);
const target = console as unknown as Record<string, unknown>;
for (const method of ["log", "info", "debug", "dir", "dirxml", "table"]) {
  target[method] = toStderr;
}
// Deno's count/time print through stdout directly: reimplement them on stderr.
const counts = new Map<string, number>();
const timers = new Map<string, number>();
target.count = (label = "default") => {
  const n = (counts.get(label) ?? 0) + 1;
  counts.set(label, n);
  toStderr(`${label}: ${n}`);
};
target.countReset = (label = "default") => counts.delete(label);
target.time = (label = "default") => timers.set(label, performance.now());
const elapsed = (label: string, end: boolean, ...rest: unknown[]) => {
  const start = timers.get(label);
  if (start === undefined) return;
  if (end) timers.delete(label);
  toStderr(`${label}: ${(performance.now() - start).toFixed(3)}ms`, ...rest);
};
target.timeLog = (label = "default", ...rest: unknown[]) => elapsed(label, false, ...rest);
target.timeEnd = (label = "default") => elapsed(label, true);
