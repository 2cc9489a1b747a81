/// <reference path="../portable.d.ts" />
/**
 * The names of the natively implemented built-ins (`name/arity` → id) and
 * jq 1.6's full list of built-ins, so the compiler can tell "not supported
 * here" (code `unsupported`) from "not defined in jq" (code `syntax`).
 */

/** Native built-ins. The order of {@link nativeBuiltinNames} gives the ids. */
export enum B {
  Empty = 0,
  Not,
  Length,
  Utf8ByteLength,
  Keys,
  KeysUnsorted,
  Values,
  Add,
  Any0,
  All0,
  Flatten0,
  Floor,
  Sqrt,
  Ceil,
  Round,
  Trunc,
  Fabs,
  Rint,
  Nearbyint,
  ToString,
  ToNumber,
  Type,
  Infinite,
  Nan,
  IsInfinite,
  IsNan,
  IsNormal,
  Sort,
  Unique,
  Min,
  Max,
  Reverse,
  ToJson,
  FromJson,
  Explode,
  Implode,
  AsciiDowncase,
  AsciiUpcase,
  ToEntries,
  FromEntries,
  Paths0,
  LeafPaths,
  Recurse0,
  RecurseDown,
  First0,
  Last0,
  Error0,
  Arrays,
  Objects,
  Iterables,
  Booleans,
  Numbers,
  Normals,
  Finites,
  Strings,
  Nulls,
  Scalars,
  ScalarsOrEmpty,
  IsFinite,
  Transpose,
  Pow10,
  NotFound,
  Select,
  Map,
  MapValues,
  Has,
  In,
  Inside,
  Contains,
  Path,
  GetPath,
  DelPaths,
  Del,
  WithEntries,
  Recurse1,
  Paths1,
  Any1,
  All1,
  Flatten1,
  Range1,
  SortBy,
  GroupBy,
  UniqueBy,
  MinBy,
  MaxBy,
  StartsWith,
  EndsWith,
  LtrimStr,
  RtrimStr,
  Split1,
  Join,
  Indices,
  Index,
  Rindex,
  Error1,
  First1,
  Last1,
  Nth1,
  IsEmpty,
  Repeat,
  Walk,
  Format,
  SetPath,
  Range2,
  Limit,
  Nth2,
  Any2,
  All2,
  Recurse2,
  Until,
  While,
  Range3,
  MatchImpl,
  Nwise,
  Sub2,
  Sub3,
  Gsub2,
  Gsub3,
}

/**
 * `name/arity` of each native built-in, in {@link B} order (`-` for none),
 * as one string: a constant array would be rebuilt at every wasm start.
 */
const NATIVE_LIST =
  "empty/0 not/0 length/0 utf8bytelength/0 keys/0 keys_unsorted/0 values/0 add/0 any/0 all/0 flatten/0 floor/0 sqrt/0 ceil/0 round/0 trunc/0 fabs/0 rint/0 nearbyint/0 tostring/0 tonumber/0 type/0 infinite/0 nan/0 isinfinite/0 isnan/0 isnormal/0 sort/0 unique/0 min/0 max/0 reverse/0 tojson/0 fromjson/0 explode/0 implode/0 ascii_downcase/0 ascii_upcase/0 to_entries/0 from_entries/0 paths/0 leaf_paths/0 recurse/0 recurse_down/0 first/0 last/0 error/0 arrays/0 objects/0 iterables/0 booleans/0 numbers/0 normals/0 finites/0 strings/0 nulls/0 scalars/0 scalars_or_empty/0 isfinite/0 transpose/0 pow10/0 - select/1 map/1 map_values/1 has/1 in/1 inside/1 contains/1 path/1 getpath/1 delpaths/1 del/1 with_entries/1 recurse/1 paths/1 any/1 all/1 flatten/1 range/1 sort_by/1 group_by/1 unique_by/1 min_by/1 max_by/1 startswith/1 endswith/1 ltrimstr/1 rtrimstr/1 split/1 join/1 indices/1 index/1 rindex/1 error/1 first/1 last/1 nth/1 isempty/1 repeat/1 walk/1 format/1 setpath/2 range/2 limit/2 nth/2 any/2 all/2 recurse/2 until/2 while/2 range/3 _match_impl/3 _nwise/1 sub/2 sub/3 gsub/2 gsub/3";

let nativeNames: Array<string> | null = null;

/** `name/arity` of each native built-in, in {@link B} order ("" where there is none). */
export function nativeBuiltinNames(): Array<string> {
  let names = nativeNames;
  if (names == null) {
    names = NATIVE_LIST.split(" ");
    for (let i = 0; i < names.length; i++) {
      if (names[i] == "-") names[i] = "";
    }
    nativeNames = names;
  }
  return names;
}

let nativeFound: Map<string, i32> | null = null;

/**
 * The id of native built-in `name/arity`, or -1.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { B, findNative } from "./jq_builtin_table.ts";
 * console.assert(findNative("map", 1) === B.Map && findNative("map", 2) === -1);
 * ```
 */
export function findNative(name: string, arity: i32): i32 {
  // Looked up in the list in place (its words are unique): a fresh wasm instance per step would split
  // the list and build that index for every filter that calls a built-in.
  // Found ids are remembered (at most one entry per built-in).
  const key = name + "/" + arity.toString();
  let found = nativeFound;
  if (found == null) {
    found = new Map<string, i32>();
    nativeFound = found;
  } else if (found.has(key)) {
    return found.get(key) as i32;
  }
  const result = wordIndex(NATIVE_LIST, key);
  if (result >= 0) found.set(key, result);
  return result;
}

/**
 * The position of the first word of `list` (words separated by single
 * spaces) that is exactly `key`, or -1. One pass comparing only words of the
 * key's length, stopping at the match: `lastIndexOf` / `indexOf` cost the
 * wasm build a string comparison call at every position of the list (~5 µs
 * for a lookup in `NATIVE_LIST`), and a fresh instance per step looks
 * every built-in a filter calls up cold. The lists searched here have no
 * repeated words (tested), so the first match is the only one.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { wordIndex } from "./jq_builtin_table.ts";
 * console.assert(wordIndex("map/1 select/1", "select/1") === 1);
 * console.assert(wordIndex("map/1 select/1", "ap/1") === -1);
 * ```
 */
export function wordIndex(list: string, key: string): i32 {
  const n = list.length;
  const m = key.length;
  let id = 0;
  let start = 0;
  for (let i = 0; i <= n; i++) {
    if (i < n && list.charCodeAt(i) != 0x20) continue;
    // list[start, i) is word `id`.
    if (i - start == m) {
      let k = 0;
      while (k < m && list.charCodeAt(start + k) == key.charCodeAt(k)) k++;
      if (k == m) return id;
    }
    id++;
    start = i + 1;
  }
  return -1;
}

/** Every built-in of jq 1.6 (`jq -n 'builtins'`), plus its callable internals. */
const JQ16_BUILTINS =
  "input_line_number/0 input_filename/0 now/0 localtime/0 gmtime/0 mktime/0 strflocaltime/1 strftime/1 strptime/1 stderr/0 debug/0 modulemeta/0 get_jq_origin/0 get_prog_origin/0 get_search_list/0 halt_error/1 halt/0 env/0 format/1 error/1 max/0 min/0 sort/0 nan/0 infinite/0 isnormal/0 isnan/0 isinfinite/0 type/0 utf8bytelength/0 length/0 contains/1 has/1 delpaths/1 getpath/1 setpath/2 implode/0 explode/0 split/1 rtrimstr/1 ltrimstr/1 endswith/1 startswith/1 keys_unsorted/0 keys/0 tostring/0 tonumber/0 fromjson/0 tojson/0 lgamma_r/0 modf/0 frexp/0 ldexp/2 trunc/0 significand/0 scalbln/2 scalb/2 round/0 rint/0 nexttoward/2 nextafter/2 nearbyint/0 logb/0 log1p/0 lgamma/0 gamma/0 fmod/2 fmin/2 fmax/2 fma/3 fdim/2 fabs/0 expm1/0 exp10/0 erfc/0 erf/0 drem/2 copysign/2 ceil/0 yn/2 jn/2 y1/0 y0/0 tgamma/0 tanh/0 tan/0 sqrt/0 sinh/0 sin/0 remainder/2 pow/2 log2/0 log10/0 log/0 j1/0 j0/0 hypot/2 floor/0 exp2/0 exp/0 cosh/0 cos/0 cbrt/0 atanh/0 atan2/2 atan/0 asinh/0 asin/0 acosh/0 acos/0 empty/0 not/0 path/1 range/2 halt_error/0 error/0 map/1 select/1 sort_by/1 group_by/1 unique/0 unique_by/1 max_by/1 min_by/1 add/0 del/1 map_values/1 recurse/1 recurse/2 recurse/0 recurse_down/0 to_entries/0 from_entries/0 with_entries/1 reverse/0 indices/1 index/1 rindex/1 paths/0 paths/1 any/2 any/1 any/0 all/2 all/1 all/0 isfinite/0 arrays/0 objects/0 iterables/0 booleans/0 numbers/0 normals/0 finites/0 strings/0 nulls/0 values/0 scalars/0 scalars_or_empty/0 leaf_paths/0 join/1 flatten/1 flatten/0 range/1 fromdateiso8601/0 todateiso8601/0 fromdate/0 todate/0 match/2 match/1 test/2 test/1 capture/2 capture/1 scan/1 splits/2 splits/1 split/2 sub/2 sub/3 gsub/3 gsub/2 range/3 while/2 until/2 limit/2 isempty/1 first/1 last/1 nth/2 first/0 last/0 nth/1 combinations/0 combinations/1 transpose/0 in/1 inside/1 input/0 repeat/1 inputs/0 ascii_downcase/0 ascii_upcase/0 truncate_stream/1 fromstream/1 tostream/0 bsearch/1 walk/1 INDEX/2 INDEX/1 JOIN/2 JOIN/3 JOIN/4 IN/1 IN/2 pow10/0 builtins/0 _match_impl/3 _strindices/1 _modify/2 _assign/2 _input/0 _sort_by_impl/1 _group_by_impl/1 _min_by_impl/1 _max_by_impl/1 _flatten/1 _nwise/1 _nwise/2 _negate/0 _plus/2 _minus/2 _multiply/2 _divide/2 _mod/2 _equal/2 _notequal/2 _less/2 _lesseq/2 _greater/2 _greatereq/2 _strptime/1 _strftime/1 _mktime/0 _gmtime/0 _localtime/0";

let jq16Index: Map<string, bool> | null = null;

/** Whether `name/arity` is a jq 1.6 built-in (implemented here or not). */
export function isJq16Builtin(name: string, arity: i32): bool {
  let index = jq16Index;
  if (index == null) {
    index = new Map<string, bool>();
    const names = JQ16_BUILTINS.split(" ");
    for (let i = 0; i < names.length; i++) index.set(names[i], true);
    jq16Index = index;
  }
  return index.has(name + "/" + arity.toString());
}
