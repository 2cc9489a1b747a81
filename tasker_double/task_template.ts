/**
 * Tasker task templates as the double reads them (Tasker keeps them as YAML;
 * here they are JSON, stored in `named_tasks.configuration`). Test and demo
 * tooling, not product code.
 *
 * @module
 */
import { z } from "zod";
import { describeValue, formatPath } from "../src/manifest/format_issues.ts";
import { TaskerDoubleError } from "./tasker_double_error.ts";

/** Tasker's step types. */
export const STEP_TYPES = [
  "standard",
  "decision",
  "deferred_convergence",
  "batchable",
  "batch_worker",
] as const;

/** A step's type. */
export type StepType = (typeof STEP_TYPES)[number];

/** Tasker's retry backoff strategies (`retry.backoff`). */
export const BACKOFF_STRATEGIES = ["none", "linear", "exponential", "fixed"] as const;

const NAMESPACE = /^[A-Za-z0-9_]{1,29}$/;

const retrySchema = z.strictObject({
  retryable: z.boolean().default(true),
  max_attempts: z.int().min(1).max(1_000_000).default(3),
  backoff: z.enum(BACKOFF_STRATEGIES).default("exponential"),
  backoff_base_ms: z.int().min(0).default(1000),
  max_backoff_ms: z.int().min(0).default(30_000),
});

const handlerSchema = z.strictObject({
  callable: z.string().min(1).max(255),
  method: z.string().min(1).optional(),
  resolver: z.string().min(1).optional(),
  initialization: z.record(z.string(), z.unknown()).default({}),
});

const stepSchema = z.strictObject({
  name: z.string().min(1).max(128),
  description: z.string().optional(),
  type: z.enum(STEP_TYPES).default("standard"),
  handler: handlerSchema,
  dependencies: z.array(z.string().min(1).max(128)).default([]),
  retry: retrySchema.default({
    retryable: true,
    max_attempts: 3,
    backoff: "exponential",
    backoff_base_ms: 1000,
    max_backoff_ms: 30_000,
  }),
  timeout_seconds: z.int().min(1).optional(),
  /** Tasker's `BatchConfiguration` for batch workers; copied into `inputs.batch_metadata`. */
  batch_config: z.record(z.string(), z.unknown()).optional(),
  publishes_events: z.array(z.unknown()).optional(),
  system_dependency: z.string().optional(),
});

/**
 * The zod schema of a task template:
 * `{name, namespace_name, version, description?, steps: [{name, type?, handler: {callable,
 * initialization}, dependencies, retry?, timeout_seconds?}]}`. Unknown keys are errors, so a
 * misspelt field is reported instead of ignored.
 */
export const taskTemplateSchema = z.strictObject({
  name: z.string().min(1).max(64),
  namespace_name: z.string().regex(NAMESPACE, {
    message: "expected 1-29 characters of A-Z, a-z, 0-9 and _ (the queue is worker_<ns>_queue)",
  }),
  version: z.string().min(1).max(16),
  description: z.string().max(255).optional(),
  input_schema: z.record(z.string(), z.unknown()).optional(),
  lifecycle: z.record(z.string(), z.unknown()).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  steps: z.array(stepSchema).min(1),
});

/** A parsed task template (defaults filled in). */
export type TaskTemplate = z.infer<typeof taskTemplateSchema>;
/** One step definition of a {@link TaskTemplate}. */
export type StepDefinition = TaskTemplate["steps"][number];
/** What a caller may pass (defaults optional). */
export type TaskTemplateInput = z.input<typeof taskTemplateSchema>;

/** One problem in a template: a dotted path and what was wrong there. */
export interface TemplateIssue {
  path: string;
  message: string;
}

/**
 * Validates a task template: its shape (zod), then the graph — unique step
 * names, dependencies that exist, no cycles, batch workers that follow a
 * batchable step, convergence steps with dependencies. Throws
 * `TaskerDoubleError("template_invalid")` listing every issue in
 * `details.issues`.
 *
 * @example
 * ```ts
 * import { parseTaskTemplate } from "./task_template.ts";
 * const t = parseTaskTemplate({
 *   name: "hello", namespace_name: "catalog", version: "1.0.0",
 *   steps: [{ name: "say", handler: { callable: "catalog.transform", initialization: { filter: "." } } }],
 * });
 * console.assert(t.steps[0].retry.max_attempts === 3 && t.steps[0].type === "standard");
 * ```
 */
export function parseTaskTemplate(input: unknown): TaskTemplate {
  const parsed = taskTemplateSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    throw templateError(parsed.error.issues.flatMap(toIssues));
  }
  const template = parsed.data;
  const issues = graphIssues(template);
  if (issues.length > 0) throw templateError(issues);
  return template;
}

function templateError(issues: TemplateIssue[]): TaskerDoubleError {
  const lines = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
  return new TaskerDoubleError(
    "template_invalid",
    `Cannot use task template as it is invalid:\n  ${lines.join("\n  ")}`,
    { details: { issues } },
  );
}

function toIssues(issue: z.core.$ZodIssue): TemplateIssue[] {
  const path = formatPath(issue.path);
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => ({
        path: formatPath([...issue.path, key]),
        message: "unknown key",
      }));
    case "invalid_type":
      return [{
        path,
        message: issue.input === undefined
          ? `required ${issue.expected} is missing`
          : `expected ${issue.expected}, got ${describeValue(issue.input)}`,
      }];
    case "invalid_value":
      return [{
        path,
        message: `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${
          describeValue(issue.input)
        }`,
      }];
    default:
      return [{ path, message: `${issue.message}, got ${describeValue(issue.input)}` }];
  }
}

function graphIssues(template: TaskTemplate): TemplateIssue[] {
  const issues: TemplateIssue[] = [];
  const byName = new Map<string, StepDefinition>();
  template.steps.forEach((step, i) => {
    if (byName.has(step.name)) {
      issues.push({ path: `steps[${i}].name`, message: `duplicate step name "${step.name}"` });
    } else {
      byName.set(step.name, step);
    }
  });
  template.steps.forEach((step, i) => {
    const seen = new Set<string>();
    step.dependencies.forEach((dep, j) => {
      const where = `steps[${i}].dependencies[${j}]`;
      if (dep === step.name) {
        issues.push({ path: where, message: "a step cannot depend on itself" });
      } else if (!byName.has(dep)) {
        issues.push({ path: where, message: `no step named "${dep}" in the template` });
      }
      if (seen.has(dep)) issues.push({ path: where, message: `"${dep}" is listed twice` });
      seen.add(dep);
    });
    if (step.type === "batch_worker") {
      const fromBatchable = step.dependencies.some((d) => byName.get(d)?.type === "batchable");
      if (!fromBatchable) {
        issues.push({
          path: `steps[${i}].dependencies`,
          message: "a batch_worker step must depend on a batchable step",
        });
      }
    }
    if (step.type === "deferred_convergence" && step.dependencies.length === 0) {
      issues.push({
        path: `steps[${i}].dependencies`,
        message: "a deferred_convergence step needs at least one dependency",
      });
    }
  });
  const cycle = findCycle(template.steps, byName);
  if (cycle) {
    issues.push({ path: "steps", message: `dependency cycle: ${cycle.join(" -> ")}` });
  }
  return issues;
}

function findCycle(
  steps: readonly StepDefinition[],
  byName: Map<string, StepDefinition>,
): string[] | undefined {
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    const s = state.get(name);
    if (s === "done") return undefined;
    if (s === "visiting") return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, "visiting");
    stack.push(name);
    for (const dep of byName.get(name)?.dependencies ?? []) {
      if (!byName.has(dep)) continue;
      const found = visit(dep);
      if (found) return found;
    }
    stack.pop();
    state.set(name, "done");
    return undefined;
  };
  for (const step of steps) {
    const found = visit(step.name);
    if (found) return found;
  }
  return undefined;
}

/** Whether `ancestor` is reachable from `step` through template dependencies. */
export function dependsOn(
  template: TaskTemplate,
  step: string,
  ancestor: string,
): boolean {
  const byName = new Map(template.steps.map((s) => [s.name, s]));
  const seen = new Set<string>();
  const stack = [...(byName.get(step)?.dependencies ?? [])];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (name === ancestor) return true;
    if (seen.has(name)) continue;
    seen.add(name);
    stack.push(...(byName.get(name)?.dependencies ?? []));
  }
  return false;
}

/**
 * The steps Tasker creates when the task is created: every step except batch
 * worker templates and the descendants of decision and batch worker steps
 * (those are created when a decision or batch outcome names them).
 */
export function initialStepNames(template: TaskTemplate): string[] {
  const dynamicRoots = template.steps.filter((s) =>
    s.type === "decision" || s.type === "batch_worker"
  ).map((s) => s.name);
  return template.steps.filter((s) =>
    s.type !== "batch_worker" && !dynamicRoots.some((root) => dependsOn(template, s.name, root))
  ).map((s) => s.name);
}
