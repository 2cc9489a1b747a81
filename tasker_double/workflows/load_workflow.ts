/**
 * The example workflows of the Tasker double: a task template and sample task
 * contexts per workflow, built only from catalog handlers. Test and demo
 * tooling, not product code.
 *
 * @module
 */
import { parseTaskTemplate, type TaskTemplate } from "../task_template.ts";
import { TaskerDoubleError } from "../tasker_double_error.ts";

/** The example workflows, in the order the demo lists them. */
export const WORKFLOW_NAMES = [
  "order_pipeline",
  "fan_out_report",
  "approval_notify",
  "customer_offer",
] as const;

/** One example workflow's name. */
export type WorkflowName = (typeof WORKFLOW_NAMES)[number];

/**
 * The loopback port the demo's receiver listens on; `demo_broker_config.json`
 * grants exactly this port to `catalog.notify` and `catalog.http_request`.
 */
export const DEMO_RECEIVER_PORT = 18089;

/** A loaded workflow: its parsed template and its sample contexts by file stem. */
export interface Workflow {
  name: WorkflowName;
  template: TaskTemplate;
  /** `context` (the default sample) and the variants (`context_large`, ...). */
  contexts: Record<string, unknown>;
}

/** Whether `name` is one of {@link WORKFLOW_NAMES}. */
export function isWorkflowName(name: string): name is WorkflowName {
  return (WORKFLOW_NAMES as readonly string[]).includes(name);
}

/**
 * Reads `workflows/<name>/template.json` (validated) and every
 * `context*.json` beside it.
 *
 * @example
 * ```ts
 * import { loadWorkflow } from "./load_workflow.ts";
 * const wf = await loadWorkflow("order_pipeline");
 * console.assert(wf.template.steps[0].name === "validate_order" && "context" in wf.contexts);
 * ```
 */
export async function loadWorkflow(name: string): Promise<Workflow> {
  if (!isWorkflowName(name)) {
    throw new TaskerDoubleError(
      "template_not_found",
      `Cannot load workflow as it is not one of ${WORKFLOW_NAMES.join(", ")}: current value is ${
        JSON.stringify(name)
      }`,
    );
  }
  const dir = new URL(`./${name}/`, import.meta.url);
  const template = parseTaskTemplate(
    JSON.parse(await Deno.readTextFile(new URL("template.json", dir))),
  );
  const contexts: Record<string, unknown> = {};
  for await (const entry of Deno.readDir(dir)) {
    const m = /^(context(?:_[a-z0-9_]+)?)\.json$/.exec(entry.name);
    if (m) contexts[m[1]] = JSON.parse(await Deno.readTextFile(new URL(entry.name, dir)));
  }
  return { name, template, contexts };
}
