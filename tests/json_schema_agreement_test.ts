/**
 * Agreement of the portable JSON Schema validator (catalog/core/json_schema)
 * with ajv 8 (`Ajv2020`, `allErrors: true`, `strict: false`) on generated
 * corpora: a seeded generator builds schemas from the supported keywords
 * (nested, with local `$ref`s and recursive definitions) and instances meant
 * to match them, some mutated to fail. Every pair must agree on validity
 * and on the set of (instancePath, keyword) errors; the `coerce` and
 * `filter_extra` corpora must also agree on the resulting data.
 *
 * The generator avoids the places where the two are documented to differ
 * (docs/catalog/json_schema.md): ajv's annotation tracking defects around
 * `unevaluated*` ({@link conflicts} lists them), properties that exist on
 * Object.prototype, coercion inside `propertyNames` or behind non-inlined
 * `$ref`s, and strings that coerce to an infinite number. Those differences
 * have their own test at the end. JSON_SCHEMA_AGREEMENT_SEED=<n> shifts the
 * seeds to explore other corpora.
 */
import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import "../catalog/native/portable_runtime.ts";
import { fromJs, toJs } from "../catalog/native/js_bridge.ts";
import { compileSchema } from "../catalog/core/json_schema/compile_schema.ts";
import { validate, ValidateOptions, validateWith } from "../catalog/core/json_schema/validate.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = boolean | { [key: string]: Json };

/** mulberry32: a small seeded PRNG, so every run sees the same corpus. */
class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  subset<T>(items: readonly T[], max: number): T[] {
    const out: T[] = [];
    for (const item of items) if (out.length < max && this.chance(0.4)) out.push(item);
    return out;
  }
}

const TYPES = ["null", "boolean", "integer", "number", "string", "array", "object"] as const;
const NAMES = ["a", "b", "c", "d", "x/y", "é", "k~1"];
const CHARS = ["a", "b", "z", "é", "\u{1F600}", "1", " "];
const STEPS = [1, 2, 3, 0.5, 0.25, 0.1];
const PATTERNS = [
  "^a",
  "b$",
  "^[a-c]*$",
  "\\d",
  "^x/",
  "é",
  "^(a|b)$",
  "",
  "^.{2}$",
  "[^a-z]",
  "\\s",
  "\u{1F600}",
  "^\\w+$",
  "^(?:k~1|[ab])$",
];

interface GenOptions {
  /** Allow `$ref` to definitions that contain `$ref` (ajv calls those, not inlines). */
  nestedRefs: boolean;
  /** Allow `type` inside `propertyNames` (ajv's coercion writes a wrong key there). */
  typedNames: boolean;
  /** Make `additionalProperties: false` common (filter_extra corpus). */
  closedObjects: boolean;
}

class SchemaGen {
  readonly r: Random;
  readonly o: GenOptions;
  defs: string[] = [];
  defSchemas: Record<string, Schema> = {};
  /** Definitions whose schema contains a `$ref`. */
  refDefs = new Set<string>();
  #usedRef = false;

  constructor(r: Random, o: GenOptions) {
    this.r = r;
    this.o = o;
  }

  value(depth: number): Json {
    const r = this.r;
    switch (r.int(0, depth > 1 ? 4 : 6)) {
      case 0:
        return null;
      case 1:
        return r.chance(0.5);
      case 2:
        return r.pick([0, 1, -1, 2, 3, 0.5, 1.5, 10, 100, -2.5]);
      case 3:
      case 4:
        return this.string(r.int(0, 3));
      case 5: {
        const out: Json[] = [];
        for (let i = r.int(0, 3); i > 0; i--) out.push(this.value(depth + 1));
        return out;
      }
      default: {
        const out: Record<string, Json> = {};
        for (let i = r.int(0, 3); i > 0; i--) out[r.pick(NAMES)] = this.value(depth + 1);
        return out;
      }
    }
  }

  string(length: number): string {
    let s = "";
    for (let i = 0; i < length; i++) s += this.r.pick(CHARS);
    return s;
  }

  /** A root schema outside the documented differences (see {@link conflicts}). */
  root(): Schema {
    for (;;) {
      const schema = this.candidate();
      if (!conflicts(schema, this.defSchemas)) return schema;
    }
  }

  candidate(): Schema {
    const r = this.r;
    this.defs = [];
    this.defSchemas = {};
    this.refDefs = new Set();
    const defs: Record<string, Schema> = {};
    const count = r.chance(0.35) ? r.int(1, 3) : 0;
    for (let i = 0; i < count; i++) {
      const name = `d${i}`;
      this.#usedRef = false;
      defs[name] = this.schema(2);
      if (this.#usedRef) this.refDefs.add(name);
      this.defs.push(name);
      this.defSchemas[name] = defs[name];
    }
    if (this.o.nestedRefs && r.chance(0.12)) {
      // A recursive tree: the self reference consumes one level of the instance.
      const leaf = this.schema(3);
      defs.tree = {
        type: "object",
        properties: { v: leaf as Json, kids: { type: "array", items: { $ref: "#/$defs/tree" } } },
      };
      this.defs.push("tree");
      this.defSchemas.tree = defs.tree;
      this.refDefs.add("tree");
    }
    const root = this.schema(0);
    if (this.defs.length === 0) return root;
    const obj: Record<string, Json> = typeof root === "boolean" ? { allOf: [root] } : root;
    obj.$defs = defs as Json;
    const targets = this.o.nestedRefs ? this.defs : this.defs.filter((d) => !this.refDefs.has(d));
    if (targets.length > 0 && r.chance(0.4)) obj.$ref = `#/$defs/${r.pick(targets)}`;
    return obj;
  }

  schema(depth: number): Schema {
    const r = this.r;
    if (r.chance(depth === 0 ? 0.02 : 0.08)) return r.chance(0.75);
    const s: Record<string, Json> = {};
    const focus = r.pick(["number", "string", "array", "object", "object", "any"] as const);
    if (r.chance(0.55)) {
      if (r.chance(0.8)) {
        s.type = focus === "any"
          ? r.pick(TYPES)
          : focus === "number" && r.chance(0.4)
          ? "integer"
          : focus;
      } else {
        s.type = r.subset(TYPES, 3);
        if ((s.type as Json[]).length === 0) s.type = [focus === "any" ? "null" : focus];
      }
    }
    const deep = depth < 3;
    switch (focus) {
      case "number":
        this.numberKeywords(s);
        break;
      case "string":
        this.stringKeywords(s);
        break;
      case "array":
        if (deep) this.arrayKeywords(s, depth);
        break;
      case "object":
        if (deep) this.objectKeywords(s, depth);
        break;
      default:
        break;
    }
    if (r.chance(0.08)) s.const = this.value(1);
    if (r.chance(0.1)) {
      const values: Json[] = [];
      for (let i = r.int(1, 4); i > 0; i--) values.push(this.value(1));
      s.enum = values;
    }
    if (deep && r.chance(depth === 0 ? 0.45 : 0.2)) this.applicators(s, depth);
    if (this.defs.length > 0 && r.chance(0.15)) {
      const usable = this.o.nestedRefs ? this.defs : this.defs.filter((d) => !this.refDefs.has(d));
      if (usable.length > 0) {
        s.$ref = `#/$defs/${r.pick(usable)}`;
        this.#usedRef = true;
      }
    }
    if (r.chance(0.04)) s.format = r.pick(["date", "email", "uri"]);
    if (r.chance(0.03)) s.title = "annotation only";
    return s;
  }

  numberKeywords(s: Record<string, Json>): void {
    const r = this.r;
    if (r.chance(0.4)) s.minimum = r.pick([-1, 0, 1, 2.5]);
    if (r.chance(0.4)) s.maximum = r.pick([1, 3, 10, 2.5]);
    if (r.chance(0.15)) s.exclusiveMinimum = r.pick([0, 1]);
    if (r.chance(0.15)) s.exclusiveMaximum = r.pick([3, 10]);
    if (r.chance(0.35)) s.multipleOf = r.pick(STEPS);
  }

  stringKeywords(s: Record<string, Json>): void {
    const r = this.r;
    if (r.chance(0.5)) s.minLength = r.int(0, 3);
    if (r.chance(0.5)) s.maxLength = r.int(0, 4);
    if (r.chance(0.25)) s.pattern = r.pick(PATTERNS);
  }

  arrayKeywords(s: Record<string, Json>, depth: number): void {
    const r = this.r;
    if (r.chance(0.3)) s.minItems = r.int(0, 2);
    if (r.chance(0.3)) s.maxItems = r.int(1, 4);
    if (r.chance(0.35)) {
      const prefix: Json[] = [];
      for (let i = r.int(1, 3); i > 0; i--) prefix.push(this.schema(depth + 1) as Json);
      s.prefixItems = prefix;
    }
    if (r.chance(0.5)) {
      s.items = s.prefixItems && r.chance(0.3) ? false : this.schema(depth + 1) as Json;
    }
    if (r.chance(0.3)) {
      s.contains = this.schema(depth + 1) as Json;
      if (r.chance(0.4)) s.minContains = r.int(0, 2);
      if (r.chance(0.3)) s.maxContains = r.int(0, 3);
    }
    if (r.chance(0.25)) s.uniqueItems = r.chance(0.85);
    if (r.chance(0.3)) {
      s.unevaluatedItems = r.chance(0.5) ? false : this.schema(depth + 1) as Json;
    }
  }

  objectKeywords(s: Record<string, Json>, depth: number): void {
    const r = this.r;
    const names = r.subset(NAMES, 3);
    if (names.length > 0 && r.chance(0.75)) {
      const props: Record<string, Json> = {};
      for (const name of names) props[name] = this.schema(depth + 1) as Json;
      s.properties = props;
    }
    if (r.chance(0.2)) {
      const patterns: Record<string, Json> = {};
      for (let n = r.int(1, 2); n > 0; n--) {
        patterns[r.pick(PATTERNS)] = this.schema(depth + 1) as Json;
      }
      s.patternProperties = patterns;
    }
    if (r.chance(0.4)) s.required = r.subset(NAMES, 2);
    if (r.chance(this.o.closedObjects ? 0.6 : 0.3)) {
      s.additionalProperties = this.o.closedObjects || r.chance(0.5)
        ? false
        : this.schema(depth + 1) as Json;
    }
    if (r.chance(0.15)) {
      const names: Record<string, Json> = r.pick<Record<string, Json>>([
        { maxLength: 1 },
        { minLength: 2 },
        { enum: ["a", "b", "c", "x/y"] },
        { not: { const: "d" } },
      ]);
      if (this.o.typedNames && r.chance(0.3)) names.type = "string";
      s.propertyNames = names;
    }
    if (r.chance(0.15)) s.minProperties = r.int(0, 2);
    if (r.chance(0.15)) s.maxProperties = r.int(1, 3);
    if (r.chance(0.15)) s.dependentRequired = { [r.pick(NAMES)]: r.subset(NAMES, 2) };
    if (r.chance(0.12)) s.dependentSchemas = { [r.pick(NAMES)]: this.schema(depth + 1) as Json };
    if (r.chance(0.05)) {
      s.dependencies = {
        [r.pick(NAMES)]: r.chance(0.5) ? r.subset(NAMES, 2) : this.schema(depth + 1) as Json,
      };
    }
    if (r.chance(0.3)) {
      s.unevaluatedProperties = r.chance(0.6) ? false : this.schema(depth + 1) as Json;
    }
  }

  applicators(s: Record<string, Json>, depth: number): void {
    const r = this.r;
    const list = (): Json[] => {
      const out: Json[] = [];
      for (let i = r.int(1, 3); i > 0; i--) out.push(this.schema(depth + 1) as Json);
      return out;
    };
    switch (r.int(0, 5)) {
      case 0:
        s.allOf = list();
        break;
      case 1:
        s.anyOf = list();
        break;
      case 2:
        s.oneOf = list();
        break;
      case 3:
        s.not = this.schema(depth + 1) as Json;
        break;
      default:
        s.if = this.schema(depth + 1) as Json;
        if (r.chance(0.8)) s.then = this.schema(depth + 1) as Json;
        if (r.chance(0.6)) s.else = this.schema(depth + 1) as Json;
    }
  }
}

const IN_PLACE_LISTS = ["allOf", "anyOf", "oneOf"];
const IN_PLACE_ONE = ["not", "if", "then", "else"];
const SUBSCHEMA_ONE = [
  "items",
  "contains",
  "additionalProperties",
  "propertyNames",
  "unevaluatedItems",
  "unevaluatedProperties",
];

/**
 * Whether a schema touches a documented difference from ajv, where the
 * corpus would compare behaviours that differ on purpose:
 * - `if` where `unevaluated*` needs its annotations: ajv counts what a
 *   failing `if` evaluated, and ignores an `if` without then/else;
 * - `contains` where `unevaluatedItems` needs its annotations: ajv marks
 *   every item evaluated;
 * - `uniqueItems` next to `items` with a scalar `type`: ajv compares only
 *   the items of that type;
 * - `dependentSchemas` (or schema `dependencies`), or `anyOf`/`oneOf` next to
 *   `$ref`, where `unevaluatedProperties` needs annotations: ajv loses the
 *   annotations collected before them when the dependency is absent or the
 *   branch fails;
 * - `prefixItems` followed by contains/items/uniqueItems/unevaluatedItems
 *   inside `not` or `if`: ajv (stopping at the first error there) skips the
 *   later array keywords when the array is shorter than prefixItems;
 * - `contains` (at least one, no maximum) applied in a loop (under items,
 *   additionalProperties, ...): ajv lets an empty array pass when the
 *   previous one matched;
 * - `anyOf`/`oneOf` where `unevaluatedItems` needs annotations: when only a
 *   failing branch evaluated items, ajv's unevaluatedItems checks nothing;
 * - `anyOf`/`oneOf` nested in an anyOf/oneOf branch, next to
 *   `patternProperties`, or applied in a loop, and `patternProperties` or
 *   `$ref` inside an anyOf/oneOf branch, where `unevaluatedProperties` needs
 *   annotations: ajv can keep what a failing branch, or the previous item,
 *   evaluated;
 * - `patternProperties` next to anyOf/oneOf/if/dependentSchemas/schema
 *   `dependencies` (also through allOf or $ref): ajv's generated code throws a
 *   TypeError when a branch not taken evaluated properties and a key matches;
 * - `patternProperties` behind a `$ref` where `unevaluatedProperties` needs
 *   annotations: ajv drops them when the referenced schema fails (only error
 *   reports differ, the instance is invalid either way).
 */
function conflicts(schema: Schema, defs: Record<string, Schema>): boolean {
  const seen = new Set<string>();
  const walk = (s: Schema, at: Scope): boolean => {
    if (typeof s === "boolean") return false;
    const key = `${JSON.stringify(s)}|${JSON.stringify(at)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    const p = at.props || s.unevaluatedProperties !== undefined;
    const i = at.items || s.unevaluatedItems !== undefined;
    const conditional = s.anyOf !== undefined || s.oneOf !== undefined;
    // ajv counts what a failing `if` evaluated, and ignores an `if` without then/else.
    if ((p || i) && s.if !== undefined) return true;
    if (i && (s.contains !== undefined || conditional)) return true;
    if (p && s.dependentSchemas !== undefined) return true;
    const deps = s.dependencies as Record<string, Json> | undefined;
    if (p && deps !== undefined && Object.values(deps).some((d) => !Array.isArray(d))) return true;
    if (p && conditional && (s.$ref !== undefined || at.branch || at.loop)) return true;
    if (p && conditional && s.patternProperties !== undefined) return true;
    if (s.patternProperties !== undefined && branchesInPlace(s, defs, new Set())) return true;
    // ajv merges a called $ref target's dynamic annotations (patternProperties) only when it passed.
    if (p && refReachesPatterns(s, defs, new Set(), false)) return true;
    if (p && at.branch && (s.patternProperties !== undefined || s.$ref !== undefined)) return true;
    if (
      at.loop && s.contains !== undefined && (s.minContains ?? 1) === 1 &&
      s.maxContains === undefined
    ) {
      return true;
    }
    if (
      at.quiet && s.prefixItems !== undefined &&
      (s.contains !== undefined || s.items !== undefined || s.uniqueItems !== undefined ||
        s.unevaluatedItems !== undefined)
    ) {
      return true;
    }
    const it = s.items;
    if (s.uniqueItems === true && it !== null && typeof it === "object" && !Array.isArray(it)) {
      const t = (it as Record<string, Json>).type;
      const list = Array.isArray(t) ? t : t === undefined ? [] : [t];
      if (list.length > 0 && !list.includes("object") && !list.includes("array")) return true;
    }
    // In place: same instance location, annotations flow to `s`.
    const here: Scope = { ...at, props: p, items: i };
    for (const k of IN_PLACE_LISTS) {
      const list = s[k];
      if (!Array.isArray(list)) continue;
      const inner = { ...here, branch: here.branch || k !== "allOf" };
      for (const sub of list) if (walk(sub as Schema, inner)) return true;
    }
    for (const k of IN_PLACE_ONE) {
      // `not` and `if` run their subschemas in ajv's stop-at-first-error mode.
      const inner = { ...here, quiet: here.quiet || k === "not" || k === "if" };
      if (s[k] !== undefined && walk(s[k] as Schema, inner)) return true;
    }
    for (const k of ["dependentSchemas", "dependencies"]) {
      const map = s[k] as Record<string, Json> | undefined;
      if (!map) continue;
      for (const sub of Object.values(map)) {
        if (!Array.isArray(sub) && walk(sub as Schema, here)) return true;
      }
    }
    if (typeof s.$ref === "string") {
      const target = defs[s.$ref.slice("#/$defs/".length)];
      if (target !== undefined && walk(target, here)) return true;
    }
    // A new instance location: no annotations flow back.
    const below: Scope = {
      props: false,
      items: false,
      quiet: at.quiet,
      loop: at.loop,
      branch: false,
    };
    // These apply their subschema to several values in a loop.
    for (const k of SUBSCHEMA_ONE) {
      if (s[k] !== undefined && walk(s[k] as Schema, { ...below, loop: true })) return true;
    }
    const patterned = s.patternProperties as Record<string, Json> | undefined;
    if (patterned) {
      for (const sub of Object.values(patterned)) {
        if (walk(sub as Schema, { ...below, loop: true })) return true;
      }
    }
    const named = s.properties as Record<string, Json> | undefined;
    if (named) {
      for (const sub of Object.values(named)) {
        if (walk(sub as Schema, below)) return true;
      }
    }
    if (Array.isArray(s.prefixItems)) {
      for (const sub of s.prefixItems) if (walk(sub as Schema, below)) return true;
    }
    const defsHere = s.$defs as Record<string, Json> | undefined;
    if (defsHere) {
      for (const sub of Object.values(defsHere)) if (walk(sub as Schema, TOP)) return true;
    }
    return false;
  };
  return walk(schema, TOP);
}

/** Whether `s` or an allOf/$ref subschema in place has anyOf, oneOf, if or schema dependencies. */
function branchesInPlace(s: Schema, defs: Record<string, Schema>, seen: Set<Schema>): boolean {
  if (typeof s === "boolean" || seen.has(s)) return false;
  seen.add(s);
  if (s.anyOf !== undefined || s.oneOf !== undefined || s.if !== undefined) return true;
  if (s.dependentSchemas !== undefined) return true;
  const deps = s.dependencies as Record<string, Json> | undefined;
  if (deps !== undefined && Object.values(deps).some((d) => !Array.isArray(d))) return true;
  if (Array.isArray(s.allOf) && s.allOf.some((sub) => branchesInPlace(sub as Schema, defs, seen))) {
    return true;
  }
  if (typeof s.$ref === "string") {
    const target = defs[s.$ref.slice("#/$defs/".length)];
    if (target !== undefined && branchesInPlace(target, defs, seen)) return true;
  }
  return false;
}

/** Whether a `$ref` reachable in place from `s` leads to a schema with patternProperties in place. */
function refReachesPatterns(
  s: Schema,
  defs: Record<string, Schema>,
  seen: Set<Schema>,
  viaRef: boolean,
): boolean {
  if (typeof s === "boolean" || seen.has(s)) return false;
  seen.add(s);
  if (viaRef && s.patternProperties !== undefined) return true;
  for (const k of IN_PLACE_LISTS) {
    const list = s[k];
    if (
      Array.isArray(list) &&
      list.some((sub) => refReachesPatterns(sub as Schema, defs, seen, viaRef))
    ) return true;
  }
  for (const k of IN_PLACE_ONE) {
    if (s[k] !== undefined && refReachesPatterns(s[k] as Schema, defs, seen, viaRef)) return true;
  }
  if (typeof s.$ref === "string") {
    const target = defs[s.$ref.slice("#/$defs/".length)];
    if (target !== undefined && refReachesPatterns(target, defs, seen, true)) return true;
  }
  return false;
}

/** Where a subschema sits, for {@link conflicts}. */
interface Scope {
  /** Some `unevaluatedProperties` needs this location's property annotations. */
  props: boolean;
  /** Some `unevaluatedItems` needs this location's item annotations. */
  items: boolean;
  /** Inside `not` or `if` (ajv stops at the first error there). */
  quiet: boolean;
  /** Applied to several values in a loop. */
  loop: boolean;
  /** Inside an anyOf/oneOf branch. */
  branch: boolean;
}

const TOP: Scope = { props: false, items: false, quiet: false, loop: false, branch: false };

/** Builds instances that try to satisfy a schema, so corpora mix valid and invalid pairs. */
class InstanceGen {
  readonly r: Random;
  readonly g: SchemaGen;
  readonly coercible: boolean;
  constructor(r: Random, g: SchemaGen, coercible: boolean) {
    this.r = r;
    this.g = g;
    this.coercible = coercible;
  }

  instance(schema: Schema, depth: number): Json {
    const r = this.r;
    if (typeof schema === "boolean" || depth > 6) return this.g.value(2);
    if (schema.$ref && r.chance(0.6)) {
      const name = String(schema.$ref).slice("#/$defs/".length);
      const target = this.g.defSchemas[name];
      if (target !== undefined) return this.instance(target, depth + 1);
    }
    if ("const" in schema && r.chance(0.7)) return structuredClone(schema.const);
    if (Array.isArray(schema.enum) && r.chance(0.7)) return structuredClone(r.pick(schema.enum));
    for (const key of ["allOf", "anyOf", "oneOf"]) {
      const list = schema[key];
      if (Array.isArray(list) && r.chance(0.5)) {
        return this.instance(r.pick(list) as Schema, depth + 1);
      }
    }
    if (schema.if !== undefined && schema.then !== undefined && r.chance(0.3)) {
      return this.instance(schema.then as Schema, depth + 1);
    }
    let type = Array.isArray(schema.type) ? r.pick(schema.type as string[]) : schema.type as string;
    if (type === undefined || r.chance(0.1)) type = this.guessType(schema);
    switch (type) {
      case "null":
        return this.coercible && r.chance(0.4) ? r.pick(["", 0, false, "null"]) : null;
      case "boolean":
        return this.coercible && r.chance(0.4)
          ? r.pick(["true", "false", 1, 0, null, "yes"])
          : r.chance(0.5);
      case "integer":
      case "number":
        return this.number(schema, type === "integer");
      case "string":
        return this.string(schema);
      case "array":
        return this.array(schema, depth);
      case "object":
        return this.object(schema, depth);
      default:
        return this.g.value(1);
    }
  }

  guessType(s: Record<string, Json>): string {
    const r = this.r;
    if (s.properties || s.required || s.additionalProperties !== undefined) return "object";
    if (s.items !== undefined || s.prefixItems || s.contains !== undefined) return "array";
    if (s.minLength !== undefined || s.maxLength !== undefined) return "string";
    if (s.minimum !== undefined || s.maximum !== undefined || s.multipleOf !== undefined) {
      return "number";
    }
    return r.pick(TYPES);
  }

  number(s: Record<string, Json>, integer: boolean): Json {
    const r = this.r;
    const lo = typeof s.minimum === "number" ? s.minimum : -3;
    const hi = typeof s.maximum === "number" ? s.maximum : 12;
    let x = lo + r.next() * Math.max(0, hi - lo);
    const step = typeof s.multipleOf === "number"
      ? s.multipleOf
      : integer || r.chance(0.6)
      ? 1
      : 0.25;
    x = Math.round(x / step) * step;
    if (r.chance(0.1)) x = r.pick([0.3, 0.7, 1e21, -0.5, 7]);
    if (this.coercible && r.chance(0.5)) {
      return r.pick([String(x), ` ${x} `, x === 0 ? false : true, null]);
    }
    return x;
  }

  string(s: Record<string, Json>): Json {
    const r = this.r;
    const lo = typeof s.minLength === "number" ? s.minLength : 0;
    const hi = typeof s.maxLength === "number" ? s.maxLength : 4;
    const text = this.g.string(r.int(lo, Math.max(lo, hi)));
    if (this.coercible && r.chance(0.45)) {
      return r.pick([
        1,
        0,
        2.5,
        true,
        false,
        null,
        "12",
        "1.5",
        "0x1F",
        "true",
        "false",
        "",
        " ",
        "1e3",
      ]);
    }
    return text;
  }

  array(s: Record<string, Json>, depth: number): Json {
    const r = this.r;
    const lo = typeof s.minItems === "number" ? s.minItems : 0;
    const hi = typeof s.maxItems === "number" ? s.maxItems : 4;
    // Sometimes step outside the size limits on purpose.
    const n = r.chance(0.15) ? Math.max(0, r.pick([lo - 1, hi + 1])) : r.int(lo, Math.max(lo, hi));
    const out: Json[] = [];
    const prefix = Array.isArray(s.prefixItems) ? s.prefixItems as Schema[] : [];
    for (let i = 0; i < n; i++) {
      const sub = i < prefix.length
        ? prefix[i]
        : s.items !== undefined
        ? s.items as Schema
        : s.contains !== undefined && r.chance(0.5)
        ? s.contains as Schema
        : s.unevaluatedItems !== undefined
        ? s.unevaluatedItems as Schema
        : true;
      out.push(this.instance(sub, depth + 1));
    }
    if (s.uniqueItems && r.chance(0.2) && out.length > 0) out.push(structuredClone(out[0]));
    return out;
  }

  object(s: Record<string, Json>, depth: number): Json {
    const r = this.r;
    const out: Record<string, Json> = {};
    const props = (s.properties ?? {}) as Record<string, Schema>;
    const required = Array.isArray(s.required) ? s.required as string[] : [];
    for (const name of Object.keys(props)) {
      if (required.includes(name) || r.chance(0.7)) {
        out[name] = this.instance(props[name], depth + 1);
      }
    }
    for (const name of required) if (!(name in out) && r.chance(0.9)) out[name] = this.g.value(2);
    if (r.chance(0.35)) {
      const extra = r.pick(NAMES);
      const sub = typeof s.additionalProperties === "object"
        ? s.additionalProperties as Schema
        : true;
      if (!(extra in out)) out[extra] = this.instance(sub, depth + 1);
    }
    return out;
  }

  /** Replaces one random nested value, to make a likely-invalid variant. */
  mutate(value: Json): Json {
    const r = this.r;
    if (value === null || typeof value !== "object" || r.chance(0.3)) return this.g.value(1);
    const copy = structuredClone(value);
    if (Array.isArray(copy)) {
      if (copy.length === 0) return [this.g.value(2)];
      const i = r.int(0, copy.length - 1);
      copy[i] = this.mutate(copy[i]);
      return copy;
    }
    const keys = Object.keys(copy);
    if (keys.length === 0 || r.chance(0.25)) {
      copy[r.pick(NAMES)] = this.g.value(2);
      return copy;
    }
    const k = r.pick(keys);
    if (r.chance(0.2)) delete copy[k];
    else copy[k] = this.mutate(copy[k]);
    return copy;
  }
}

interface Outcome {
  valid: boolean;
  errors: [string, string, string][];
  data: Json;
}

function ajvFor(options: Record<string, unknown>) {
  return new Ajv2020({ allErrors: true, strict: false, logger: false, ...options });
}

function runAjv(ajv: ReturnType<typeof ajvFor>, schema: Schema, instance: Json): Outcome {
  const validateFn = ajv.compile(schema as object);
  const data = structuredClone(instance);
  let valid: boolean;
  try {
    valid = validateFn(data) as boolean;
  } catch (e) {
    throw new Error(
      `ajv threw on ${JSON.stringify(schema)} with ${JSON.stringify(instance)}: ${e}`,
    );
  }
  const errors = (validateFn.errors ?? []).map((e): [string, string, string] => [
    e.instancePath,
    e.schemaPath.replace(/\/false schema$/, ""),
    e.keyword,
  ]);
  return { valid, errors, data };
}

function runOurs(schema: Schema, instance: Json, coerce: boolean, filterExtra: boolean): Outcome {
  const compiled = compileSchema(fromJs(schema));
  assert.equal(compiled.error, null, `compile ${JSON.stringify(schema)}`);
  const options = new ValidateOptions();
  options.coerce = coerce;
  options.filterExtra = filterExtra;
  const result = validateWith(compiled.schema!, fromJs(instance), options);
  const errors = result.errors.map((
    e,
  ): [string, string, string] => [e.instancePath, e.schemaPath, e.keyword]);
  return { valid: result.valid(), errors, data: toJs(result.value) as Json };
}

interface Tally {
  pairs: number;
  valid: number;
  invalid: number;
  /** Same (instancePath, keyword) multiset. */
  sameMultiset: number;
  /** Same (instancePath, schemaPath, keyword) sequence, in order. */
  sameOrdered: number;
  /** Same schemaPath set (ajv restarts paths inside called (non-inlined) $refs). */
  sameSchemaPaths: number;
  withRefs: number;
  /** Pairs whose data changed (coercion or filtering happened). */
  changed: number;
  /** How often each keyword failed (coverage). */
  keywords: Record<string, number>;
}

function pairKeys(errors: [string, string, string][]): string[] {
  return errors.map(([path, , keyword]) => `${path} ${keyword}`);
}

function compare(
  tally: Tally,
  label: string,
  schema: Schema,
  instance: Json,
  ajvOut: Outcome,
  ours: Outcome,
  compareData: boolean,
): void {
  const where = `${label}: schema ${JSON.stringify(schema)} instance ${JSON.stringify(instance)}`;
  tally.pairs++;
  if (ajvOut.valid) tally.valid++;
  else tally.invalid++;
  assert.equal(
    ours.valid,
    ajvOut.valid,
    `validity differs for ${where}\najv: ${JSON.stringify(ajvOut.errors)}\nours: ${
      JSON.stringify(ours.errors)
    }`,
  );
  const a = new Set(pairKeys(ajvOut.errors));
  const o = new Set(pairKeys(ours.errors));
  assert.deepEqual(
    [...o].sort(),
    [...a].sort(),
    `error set differs for ${where}\najv: ${JSON.stringify(ajvOut.errors)}\nours: ${
      JSON.stringify(ours.errors)
    }`,
  );
  if (
    JSON.stringify(pairKeys(ajvOut.errors).sort()) === JSON.stringify(pairKeys(ours.errors).sort())
  ) {
    tally.sameMultiset++;
  }
  if (JSON.stringify(ajvOut.errors) === JSON.stringify(ours.errors)) tally.sameOrdered++;
  const sp = (e: [string, string, string][]) =>
    [...new Set(e.map((x) => x.join(" ")))].sort().join("|");
  if (sp(ajvOut.errors) === sp(ours.errors)) tally.sameSchemaPaths++;
  if (JSON.stringify(schema).includes("$ref")) {
    tally.withRefs++;
  } else {
    // Without $ref even schema paths and the order of errors are ajv's.
    assert.deepEqual(ours.errors, ajvOut.errors, `error list differs for ${where}`);
  }
  for (const [, , keyword] of ours.errors) {
    tally.keywords[keyword] = (tally.keywords[keyword] ?? 0) + 1;
  }
  if (compareData && instance !== null && typeof instance === "object") {
    // ajv cannot hand back a coerced root scalar; containers are changed in place by both.
    assert.deepEqual(ours.data, ajvOut.data, `data differs for ${where}`);
  }
  if (JSON.stringify(ours.data) !== JSON.stringify(instance)) tally.changed++;
}

function newTally(): Tally {
  return {
    pairs: 0,
    valid: 0,
    invalid: 0,
    sameMultiset: 0,
    sameOrdered: 0,
    sameSchemaPaths: 0,
    withRefs: 0,
    changed: 0,
    keywords: {},
  };
}

function report(name: string, t: Tally): void {
  console.log(
    `${name}: ${t.pairs} pairs (${t.valid} valid, ${t.invalid} invalid), validity and error sets agree on all; ` +
      `same error multiset ${t.sameMultiset}, same schemaPaths ${t.sameSchemaPaths}, ` +
      `same ordered errors ${t.sameOrdered}; ${t.withRefs} pairs use $ref; data changed in ${t.changed}\n  failed keywords: ` +
      Object.entries(t.keywords).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(
        ", ",
      ),
  );
}

/** JSON_SCHEMA_AGREEMENT_SEED=<n> explores another corpus (the default seeds are the checked ones). */
const SEED_OFFSET = Number(Deno.env.get("JSON_SCHEMA_AGREEMENT_SEED") ?? 0);

function runCorpus(
  name: string,
  baseSeed: number,
  schemas: number,
  perSchema: number,
  gen: GenOptions,
  coerce: boolean,
  filterExtra: boolean,
): Tally {
  const seed = baseSeed + SEED_OFFSET;
  const r = new Random(seed);
  const g = new SchemaGen(r, gen);
  const ig = new InstanceGen(r, g, coerce);
  const ajv = ajvFor({ coerceTypes: coerce, removeAdditional: filterExtra });
  const tally = newTally();
  for (let s = 0; s < schemas; s++) {
    const schema = g.root();
    for (let k = 0; k < perSchema; k++) {
      let instance = ig.instance(schema, 0);
      if (k % 2 === 1) instance = ig.mutate(instance);
      const label = `${name} #${s}.${k} (seed ${seed})`;
      compare(
        tally,
        label,
        schema,
        instance,
        runAjv(ajv, schema, instance),
        runOurs(schema, instance, coerce, filterExtra),
        coerce || filterExtra,
      );
    }
  }
  return tally;
}

Deno.test("the validator agrees with ajv on 4,000 generated schema/instance pairs", () => {
  const plain = runCorpus(
    "plain",
    0x5eed,
    1000,
    4,
    {
      nestedRefs: true,
      typedNames: true,
      closedObjects: false,
    },
    false,
    false,
  );
  report("plain", plain);
  assert.ok(plain.valid > 1000 && plain.invalid > 1000, "the corpus mixes valid and invalid pairs");
  assert.equal(plain.changed, 0, "plain validation never changes the instance");
});

Deno.test("coerce agrees with ajv's coerceTypes: true on 1,200 generated pairs, data included", () => {
  const t = runCorpus(
    "coerce",
    0xc0e1,
    300,
    4,
    {
      nestedRefs: false,
      typedNames: false,
      closedObjects: false,
    },
    true,
    false,
  );
  report("coerce", t);
  assert.ok(t.valid > 200 && t.invalid > 200);
  assert.ok(t.changed > 120, "many pairs coerce something");
});

Deno.test("filter_extra agrees with ajv's removeAdditional: true on 1,200 generated pairs, data included", () => {
  const t = runCorpus(
    "filter_extra",
    0xf11e,
    300,
    4,
    {
      nestedRefs: true,
      typedNames: true,
      closedObjects: true,
    },
    false,
    true,
  );
  report("filter_extra", t);
  assert.ok(t.valid > 200 && t.invalid > 200);
  assert.ok(t.changed > 70, "many pairs remove something");
});

Deno.test("documented differences from ajv stay as documented", () => {
  const ajv = ajvFor({});
  const both = (schema: Schema, instance: Json) => ({
    ajv: runAjv(ajv, schema, instance).valid,
    ours: validate(compileSchema(fromJs(schema)).schema!, fromJs(instance)).length === 0,
  });
  // contains evaluates only the items it matched (2020-12); ajv marks every item evaluated.
  assert.deepEqual(both({ contains: { type: "number" }, unevaluatedItems: false }, [1, "a"]), {
    ajv: true,
    ours: false,
  });
  // contains: true matches (and so evaluates) every item; ajv marks none.
  assert.deepEqual(both({ contains: true, unevaluatedItems: false }, [1, "a"]), {
    ajv: false,
    ours: true,
  });
  // ajv reads inherited properties of plain objects: required "toString" passes on {}.
  assert.deepEqual(both({ required: ["toString"] }, {}), { ajv: true, ours: false });
  // ajv's uniqueItems looks only at items of a scalar `items` type: [1, 1] passes after a prefix.
  assert.deepEqual(
    both({ prefixItems: [{}, {}], items: { type: "string" }, uniqueItems: true }, [1, 1]),
    {
      ajv: true,
      ours: false,
    },
  );
  // ajv loses sibling `properties` annotations when a dependentSchemas property is absent.
  assert.deepEqual(
    both({
      properties: { a: {} },
      dependentSchemas: { x: { properties: { y: {} } } },
      unevaluatedProperties: false,
    }, {
      a: 1,
    }),
    { ajv: false, ours: true },
  );
  // ajv counts what a failing `if` evaluated.
  assert.deepEqual(
    both({
      if: { type: "string", properties: { d: true } },
      then: { type: "object" },
      unevaluatedProperties: false,
    }, {
      d: 1,
    }),
    { ajv: true, ours: false },
  );
  // Inside `not`/`if`, ajv skips array keywords after prefixItems on a shorter array.
  assert.deepEqual(
    both({ not: { prefixItems: [{ type: "integer" }], contains: { type: "object" } } }, []),
    {
      ajv: false,
      ours: true,
    },
  );
  // ajv's unevaluatedItems checks nothing when only a failing anyOf branch evaluated items.
  assert.deepEqual(
    both({ unevaluatedItems: false, anyOf: [{ type: "number", prefixItems: [true] }, {}] }, [1, 2]),
    {
      ajv: true,
      ours: false,
    },
  );
  // ajv keeps what a failing anyOf branch evaluated when a nested oneOf passed.
  assert.deepEqual(
    both({
      anyOf: [{
        oneOf: [{ additionalProperties: false }],
        properties: { a: true },
        required: ["zzz"],
      }, true],
      unevaluatedProperties: false,
    }, { a: 1 }),
    { ajv: true, ours: false },
  );
  // ajv carries what oneOf evaluated for one item over to the next item.
  const leaky: Schema = {
    items: {
      unevaluatedProperties: false,
      oneOf: [{ enum: [0.5], unevaluatedProperties: false }, { type: "object", required: ["c"] }],
    },
  };
  assert.deepEqual(both(leaky, [0.5, { c: 1 }]), { ajv: true, ours: false });
  assert.deepEqual(both(leaky, [{ c: 1 }]), { ajv: false, ours: false });
  // ajv lets an empty array pass `contains` when the previous array in the loop matched.
  assert.deepEqual(both({ items: { contains: { type: "number" } } }, [[1], []]), {
    ajv: true,
    ours: false,
  });
  // ajv ignores an `if` without then/else, so its annotations are lost.
  assert.deepEqual(
    both({ if: { properties: { foo: true } }, unevaluatedProperties: false }, { foo: 1 }),
    { ajv: false, ours: true },
  );
  // ajv's generated code throws when patternProperties follows a branch that was not taken.
  const throwing: Schema = {
    patternProperties: { "^a": { type: "number" } },
    anyOf: [{ type: "array", properties: { x: true } }, true],
  };
  assert.throws(() => runAjv(ajv, throwing, { a: 1 }), /TypeError/);
  assert.equal(runOurs(throwing, { a: 1 }, false, false).valid, true);
  // A string that coerces to Infinity stays a type error here (JSON cannot hold the result).
  const coercing = ajvFor({ coerceTypes: true });
  assert.equal(
    runAjv(coercing, { properties: { n: { type: "number" } } }, { n: "Infinity" }).valid,
    true,
  );
  assert.equal(
    runOurs({ properties: { n: { type: "number" } } }, { n: "Infinity" }, true, false).valid,
    false,
  );
  // ajv restarts schemaPath inside a called (recursive) $ref; ours stay absolute.
  const tree = {
    $defs: { t: { properties: { v: { type: "number" }, k: { items: { $ref: "#/$defs/t" } } } } },
    $ref: "#/$defs/t",
  };
  assert.deepEqual(runAjv(ajv, tree, { k: [{ v: "x" }] }).errors, [[
    "/k/0/v",
    "#/properties/v/type",
    "type",
  ]]);
  assert.deepEqual(runOurs(tree, { k: [{ v: "x" }] }, false, false).errors, [[
    "/k/0/v",
    "#/$defs/t/properties/v/type",
    "type",
  ]]);
});
