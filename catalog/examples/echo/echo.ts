// Example guest: writes its input back unchanged. Needs only `io`.
import { readInput, writeOutput } from "../../sdk/index";

export function run(): i32 {
  writeOutput(readInput());
  return 0;
}
