// Example guest: reads {"name": string}, logs, writes {"greeting": string}.
// Bad input is a reported failure (`fail`), not a trap.
import { fail, JsonWriter, log, readInputJson, writeOutput } from "../../sdk/index";

export function run(): i32 {
  const input = readInputJson();
  const value = input.value;
  if (!value) return fail("Cannot greet as the input is not JSON: " + input.error!, "bad_input");
  const name = value.getString("name");
  if (name == null || name.length == 0) {
    return fail("Cannot greet as input.name is not a non-empty string", "bad_input");
  }
  log.info("greeting " + name);
  const out = new JsonWriter().beginObject().field("greeting", "Hello, " + name + "!").endObject();
  writeOutput(out.toString());
  return 0;
}
