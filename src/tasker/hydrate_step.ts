/**
 * Hydrating a step message: everything a worker needs to run the step —
 * task, template, step row and current state, step definition, dependency
 * results — read in ONE query.
 *
 * A message the worker cannot act on (unknown task or step, no definition, a
 * step no longer claimable) comes back as `{ok: false, code, reason}` so the
 * broker archives it as poison; only database failures throw.
 *
 * @module
 */
import type { SqlExecutor } from "../db/sql_client.ts";
import { parseStepDefinition, type StepDefinition } from "./step_definition.ts";
import { isUuid, type StepMessage } from "./step_message.ts";

/** Tasker's step states. */
export const STEP_STATES = [
  "pending",
  "enqueued",
  "in_progress",
  "enqueued_for_orchestration",
  "enqueued_as_error_for_orchestration",
  "waiting_for_retry",
  "complete",
  "error",
  "cancelled",
  "resolved_manually",
] as const;

/** A Tasker step state. */
export type StepState = typeof STEP_STATES[number];

/** States a worker may claim from: `enqueued`, and legacy `pending`. */
export const CLAIMABLE_STATES: readonly string[] = ["enqueued", "pending"];

/** States as an SQL list of literals (`'enqueued', 'pending'`): the states are constants. */
export function sqlStates(states: readonly string[]): string {
  return states.map((s) => `'${s}'`).join(", ");
}

/** {@link CLAIMABLE_STATES} as an SQL list, for `IN (...)`. */
export const CLAIMABLE_SQL = sqlStates(CLAIMABLE_STATES);

/** True when a step in `state` may be claimed. */
export function isClaimable(state: string): boolean {
  return CLAIMABLE_STATES.includes(state);
}

/** Tasker's `workflow_steps.max_attempts` default, used when the row and template give none. */
export const DEFAULT_MAX_ATTEMPTS = 3;

/** Everything about one step a worker needs. */
export interface HydratedStep {
  task: {
    uuid: string;
    namedTaskUuid: string;
    /**
     * The task's input (`tasks.context`) as PostgreSQL prints it (`"null"` when
     * the task has none). Kept as text: the broker splices it into the step's
     * envelope without parsing a context that may be large.
     */
    contextJson: string;
    correlationId: string;
    parentCorrelationId: string | null;
    /** `task_namespaces.name`. */
    namespace: string;
    /** `named_tasks.name` / `.version`: the template. */
    name: string;
    version: string;
  };
  step: {
    uuid: string;
    /** The step's own name (`named_steps.name`); dependents see it under this name. */
    name: string;
    /** `COALESCE(inputs->>'__template_step_name', named_steps.name)`: its template entry. */
    templateStepName: string;
    /** Attempts so far, before this worker's claim (`COALESCE(attempts, 0)`). */
    attempts: number;
    maxAttempts: number;
    retryable: boolean;
    /** `workflow_steps.inputs` (`{}` when null). */
    inputs: Record<string, unknown>;
    checkpoint: unknown;
    /** The current state: the most recent transition's `to_state` (`pending` when none). */
    state: string;
    inProcess: boolean;
    processed: boolean;
  };
  /** The template's step definition for {@link HydratedStep.step.templateStepName}. */
  definition: StepDefinition;
  /**
   * The envelope's `deps` as JSON text: a JSON object from each ancestor's
   * name (`processed AND results IS NOT NULL`) to its StepExecutionResult's
   * `result` (`null` when the stored value is not an object or has none);
   * where a name appears at two distances the nearest wins. `"{}"` when none.
   */
  depsJson: string;
}

/** Why a message could not be hydrated (stable). */
export type HydrateFailureCode =
  /** A message field is not a UUID (the message skipped `parseStepMessage`). */
  | "bad_message"
  /** No `tasks` row with the message's `task_uuid`. */
  | "unknown_task"
  /** No `workflow_steps` row with the message's `step_uuid`. */
  | "unknown_step"
  /** The step belongs to another task than the message says. */
  | "step_task_mismatch"
  /** The step's current state is not claimable (`state` says which it is). */
  | "not_claimable"
  /** The task's template (`named_tasks.configuration`) has no `steps` array, or names a step twice. */
  | "bad_template"
  /** The template has no step definition with the step's template name. */
  | "no_step_definition"
  /** The step definition is malformed (`issues` lists why). */
  | "bad_step_definition";

/** A failed hydration. */
export interface HydrateFailure {
  ok: false;
  code: HydrateFailureCode;
  /** What was wrong, for logs ("Cannot ... as ..."). */
  reason: string;
  /** The step's state, for `not_claimable`. */
  state?: string;
  /** Validation problems, for `bad_step_definition`. */
  issues?: string[];
}

/** The result of {@link hydrateStep}. */
export type HydrateResult = { ok: true; step: HydratedStep } | HydrateFailure;

/** One row of a hydration statement (see {@link hydrateSql}). */
export interface HydrateRow {
  task_uuid: string | null;
  named_task_uuid: string | null;
  context_json: string | null;
  correlation_id: string | null;
  parent_correlation_id: string | null;
  task_name: string | null;
  task_version: string | null;
  configuration: unknown;
  namespace: string | null;
  workflow_step_uuid: string | null;
  step_task_uuid: string | null;
  retryable: boolean | null;
  max_attempts: number | null;
  attempts: number | null;
  in_process: boolean | null;
  processed: boolean | null;
  inputs: unknown;
  checkpoint: unknown;
  step_name: string | null;
  template_step_name: string | null;
  state: string | null;
  deps_json: string | null;
  /** With `definitionDigest`: the md5 of the step's template definition. */
  definition_md5?: string | null;
}

/** Options for {@link hydrateSql}. */
export interface HydrateSqlOptions {
  /** Appended to the statement (`ORDER BY ...`). */
  orderBy?: string;
  /** Also select `definition_md5` (see DEFINITION_DIGEST_JOIN). */
  definitionDigest?: boolean;
  /**
   * With `definitionDigest`: an SQL expression for a JSON array of digests
   * whose definitions the caller has; for those the template's
   * `configuration` is not returned (NULL), as it would only be parsed and
   * dropped — a few KB a step for a large template.
   */
  knownDigests?: string;
  /** The states whose dependency results are read (default: the claimable ones). */
  states?: readonly string[];
}

// One round trip. The keys come from a one-row subselect so a missing task or
// step still yields a row (with NULLs) and the failure can be named. The
// dependency walk runs only for a claimable step of the right task that has
// a parent (an edge into it): the condition refers to no column of the
// function, so PostgreSQL evaluates it once and skips the walk otherwise — a
// root step costs one index probe instead of a plpgsql call whose recursive
// query is planned again on every call. jsonb_object_agg keeps the last value of
// a repeated key, hence ORDER BY distance DESC: the nearest ancestor wins. Its
// values are already the envelope's (each result's `result`, SQL NULL → JSON
// null), and the context and deps come back as text the broker passes on.
export function hydrateSql(keys: string, options: HydrateSqlOptions = {}): string {
  const { orderBy = "", definitionDigest = false, states = CLAIMABLE_STATES } = options;
  const configuration = definitionDigest && options.knownDigests
    ? `CASE WHEN jsonb_exists(${options.knownDigests}, def.definition_md5) THEN NULL
    ELSE nt.configuration END AS configuration`
    : "nt.configuration";
  return `
SELECT
  t.task_uuid, t.named_task_uuid, t.context::text AS context_json, t.correlation_id,
  t.parent_correlation_id,
  nt.name AS task_name, nt.version AS task_version, ${configuration},
  tn.name AS namespace,
  ws.workflow_step_uuid, ws.task_uuid AS step_task_uuid, ws.retryable, ws.max_attempts,
  ws.attempts, ws.in_process, ws.processed, ws.inputs, ws.checkpoint,
  ns.name AS step_name,
  COALESCE(ws.inputs->>'__template_step_name', ns.name) AS template_step_name,
  cur.to_state AS state,
  deps.results::text AS deps_json${definitionDigest ? ",\n  def.definition_md5" : ""}
FROM ${keys}
LEFT JOIN tasker.tasks t ON t.task_uuid = k.task_uuid
LEFT JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
LEFT JOIN tasker.task_namespaces tn ON tn.task_namespace_uuid = nt.task_namespace_uuid
LEFT JOIN tasker.workflow_steps ws ON ws.workflow_step_uuid = k.step_uuid
LEFT JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
LEFT JOIN LATERAL (
  SELECT tr.to_state FROM tasker.workflow_step_transitions tr
  WHERE tr.workflow_step_uuid = ws.workflow_step_uuid AND tr.most_recent
) cur ON true
LEFT JOIN LATERAL (
  SELECT jsonb_object_agg(
    d.step_name,
    CASE WHEN jsonb_typeof(d.results) = 'object' THEN d.results->'result' END
    ORDER BY d.distance DESC, d.step_name
  ) AS results
  FROM tasker.get_step_transitive_dependencies(ws.workflow_step_uuid) d
  WHERE ws.workflow_step_uuid IS NOT NULL
    AND ws.task_uuid = k.task_uuid
    AND COALESCE(cur.to_state, 'pending') IN (${sqlStates(states)})
    AND EXISTS (SELECT 1 FROM tasker.workflow_step_edges e
                WHERE e.to_step_uuid = ws.workflow_step_uuid)
    AND d.processed AND d.results IS NOT NULL
) deps ON true${definitionDigest ? DEFINITION_DIGEST_JOIN : ""}${orderBy}`;
}

// The md5 of the step's one template definition (jsonb text form), NULL
// unless exactly one entry of `steps` is an object whose "name" is the
// template step name — what fromRow accepts before validating it. A
// definition the broker has validated and resolved is known by this digest
// (see read_and_claim.ts).
const DEFINITION_DIGEST_JOIN = `
LEFT JOIN LATERAL (
  SELECT CASE WHEN count(*) = 1 THEN min(md5(s::text)) END AS definition_md5
  FROM jsonb_array_elements(
    CASE WHEN jsonb_typeof(nt.configuration->'steps') = 'array' THEN nt.configuration->'steps' END
  ) s
  WHERE jsonb_typeof(s) = 'object' AND jsonb_typeof(s->'name') = 'string'
    AND s->>'name' = COALESCE(ws.inputs->>'__template_step_name', ns.name)
) def ON true`;

const HYDRATE_SQL = hydrateSql("(SELECT $1::uuid AS task_uuid, $2::uuid AS step_uuid) k");

// One row per key, in the order given: `$1` is a JSON array of
// {task_uuid, step_uuid, ord}. jsonb_to_recordset rather than unnest($1::uuid[]):
// the planner estimates unnest from the array's actual length, so a custom
// plan always looks cheaper than the generic one and this many-join query
// would be planned again on every execution; jsonb_to_recordset's estimate
// does not depend on the value, so the cached generic plan is used (checked
// with pg_prepared_statements: generic_plans vs custom_plans). Its estimate
// is 100 rows, though, and 100 index probes looked dearer than a hash join
// over the whole of `workflow_steps` (EXPLAIN ANALYZE, 20,000 steps: a
// sequential scan, 2.9 ms for 4 keys); the LIMIT caps the estimate at a
// batch's size, so the tables are probed by index.
const HYDRATE_BATCH = 20;
const HYDRATE_MANY_SQL = hydrateSql(
  `(SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(task_uuid uuid, step_uuid uuid, ord integer)
  LIMIT ${HYDRATE_BATCH}) k`,
  { orderBy: "\nORDER BY k.ord" },
);

/**
 * Reads the task, template, step (with its current state), step definition
 * and dependency results for a step message, in one query.
 *
 * Failure codes, checked in this order: `bad_message`, `unknown_task`,
 * `unknown_step`, `step_task_mismatch`, `not_claimable` (with `state`),
 * `bad_template`, `no_step_definition`, `bad_step_definition` (with `issues`).
 * The state is read here so a stale message is dropped before any work; the
 * claim checks it again inside its transaction.
 *
 * @example
 * ```ts ignore
 * const hydrated = await hydrateStep(client, message);
 * if (!hydrated.ok) log.warn("poison", { code: hydrated.code, reason: hydrated.reason });
 * else console.log(hydrated.step.definition.handler.callable);
 * ```
 */
export async function hydrateStep(
  client: SqlExecutor,
  message: StepMessage,
): Promise<HydrateResult> {
  if (!isUuid(message.task_uuid) || !isUuid(message.step_uuid)) {
    return {
      ok: false,
      code: "bad_message",
      reason: "Cannot hydrate the step as task_uuid or step_uuid is not a UUID",
    };
  }
  const [row] = await client.query<HydrateRow>(HYDRATE_SQL, [message.task_uuid, message.step_uuid]);
  return hydratedFromRow(row, message);
}

/**
 * {@link hydrateStep} for several messages in ONE query (e.g. every message
 * of a read): the results come in the order of `messages`, each exactly what
 * `hydrateStep` returns for that message alone.
 *
 * @example
 * ```ts ignore
 * const hydrated = await hydrateSteps(client, messages.map((m) => m.message));
 * for (const [i, h] of hydrated.entries()) if (!h.ok) log.warn("poison", { msg: messages[i].msgId });
 * ```
 */
export async function hydrateSteps(
  client: SqlExecutor,
  messages: readonly StepMessage[],
): Promise<HydrateResult[]> {
  const results: HydrateResult[] = new Array(messages.length);
  const queried: number[] = [];
  for (const [i, message] of messages.entries()) {
    if (!isUuid(message.task_uuid) || !isUuid(message.step_uuid)) {
      results[i] = {
        ok: false,
        code: "bad_message",
        reason: "Cannot hydrate the step as task_uuid or step_uuid is not a UUID",
      };
    } else {
      queried.push(i);
    }
  }
  if (queried.length === 0) return results;
  if (queried.length === 1) {
    // One message: the single-key statement, whose cached generic plan is
    // reused; the unnest form gets a custom plan (a full planning of this
    // many-join query) on each execution, which costs more than it saves.
    const [i] = queried;
    results[i] = await hydrateStep(client, messages[i]);
    return results;
  }
  for (let from = 0; from < queried.length; from += HYDRATE_BATCH) {
    const chunk = queried.slice(from, from + HYDRATE_BATCH);
    const keys = JSON.stringify(
      chunk.map((i, ord) => ({
        task_uuid: messages[i].task_uuid,
        step_uuid: messages[i].step_uuid,
        ord,
      })),
    );
    const rows = await client.query<HydrateRow>(HYDRATE_MANY_SQL, [keys]);
    for (const [n, i] of chunk.entries()) results[i] = hydratedFromRow(rows[n], messages[i]);
  }
  return results;
}

/**
 * What a hydration row means for `message`. `known` is the step definition
 * already validated under the row's `definition_md5`: then the template is
 * not searched and the definition not validated again.
 */
export function hydratedFromRow(
  row: HydrateRow | undefined,
  message: StepMessage,
  known?: StepDefinition,
  states: readonly string[] = CLAIMABLE_STATES,
): HydrateResult {
  if (!row || row.task_uuid === null) {
    return fail(
      "unknown_task",
      `Cannot hydrate the step as task ${message.task_uuid} does not exist`,
    );
  }
  if (row.workflow_step_uuid === null) {
    return fail(
      "unknown_step",
      `Cannot hydrate the step as step ${message.step_uuid} does not exist`,
    );
  }
  if (row.step_task_uuid !== row.task_uuid) {
    return fail(
      "step_task_mismatch",
      `Cannot hydrate step ${message.step_uuid} as it belongs to task ${row.step_task_uuid}, ` +
        `not ${message.task_uuid}`,
    );
  }
  const state = row.state ?? "pending";
  if (!states.includes(state)) {
    return {
      ok: false,
      code: "not_claimable",
      state,
      reason:
        `Cannot run step ${message.step_uuid} as it is not claimable: current state is ${state}`,
    };
  }
  if (row.named_task_uuid === null || row.task_name === null) {
    return fail("bad_template", `Cannot hydrate the step as task ${row.task_uuid} has no template`);
  }
  const found = known ? { ok: true as const, definition: known } : findDefinition(row);
  if (!found.ok) return found;
  const definition = found.definition;
  const templateStepName = row.template_step_name ?? "";
  return {
    ok: true,
    step: {
      task: {
        uuid: row.task_uuid,
        namedTaskUuid: row.named_task_uuid,
        contextJson: row.context_json ?? "null",
        correlationId: row.correlation_id ?? message.correlation_id,
        parentCorrelationId: row.parent_correlation_id,
        namespace: row.namespace ?? "",
        name: row.task_name,
        version: row.task_version ?? "",
      },
      step: {
        uuid: row.workflow_step_uuid,
        name: row.step_name ?? templateStepName,
        templateStepName,
        attempts: row.attempts ?? 0,
        maxAttempts: row.max_attempts ?? definition.retry?.max_attempts ?? DEFAULT_MAX_ATTEMPTS,
        retryable: row.retryable ?? definition.retry?.retryable ?? true,
        inputs: isObject(row.inputs) ? row.inputs : {},
        checkpoint: row.checkpoint ?? null,
        state,
        inProcess: row.in_process ?? false,
        processed: row.processed ?? false,
      },
      definition,
      depsJson: row.deps_json ?? "{}",
    },
  };
}

/** The row's one template definition for its step, validated; or why there is none. */
function findDefinition(
  row: HydrateRow,
): { ok: true; definition: StepDefinition } | HydrateFailure {
  const configuration = row.configuration;
  const steps = isObject(configuration) ? configuration.steps : undefined;
  if (!Array.isArray(steps)) {
    return fail(
      "bad_template",
      `Cannot find step definitions in template ${row.namespace}/${row.task_name}@${row.task_version} ` +
        `as its configuration has no "steps" array`,
    );
  }
  const templateStepName = row.template_step_name ?? "";
  const matches = steps.filter((s) => isObject(s) && s.name === templateStepName);
  if (matches.length === 0) {
    return fail(
      "no_step_definition",
      `Cannot find a step definition named ${JSON.stringify(templateStepName)} in template ` +
        `${row.namespace}/${row.task_name}@${row.task_version}`,
    );
  }
  if (matches.length > 1) {
    return fail(
      "bad_template",
      `Cannot choose a step definition as template ${row.namespace}/${row.task_name}@` +
        `${row.task_version} defines ${JSON.stringify(templateStepName)} ${matches.length} times`,
    );
  }
  const parsed = parseStepDefinition(matches[0]);
  if (!parsed.ok) {
    return {
      ok: false,
      code: "bad_step_definition",
      issues: parsed.issues,
      reason: `Cannot use step definition ${JSON.stringify(templateStepName)} as it is invalid: ` +
        parsed.issues.join("; "),
    };
  }
  return { ok: true, definition: parsed.definition };
}

function fail(code: HydrateFailureCode, reason: string): HydrateFailure {
  return { ok: false, code, reason };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
