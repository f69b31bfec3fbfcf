import { inspectTemplate, TemplateError, type TemplateUsage } from '../remote/templates.js';

/** A node of a workflow in ComfyUI's API format: `{ "<node id>": { class_type, inputs } }`. */
export interface WorkflowNode {
  class_type: string;
  inputs: Record<string, unknown>;
  _meta?: { title?: string };
}

export type Workflow = Record<string, WorkflowNode>;

export interface ParsedWorkflow {
  workflow: Workflow;
  usage: TemplateUsage;
}

/**
 * Parses and checks a workflow file's text. Throws a TemplateError listing every problem: not JSON, the
 * UI format instead of the API format, nodes without `class_type` or `inputs`, and unknown placeholders.
 */
export function parseWorkflow(text: string): ParsedWorkflow {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new TemplateError([`it is not valid JSON (${(error as Error).message})`]);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new TemplateError(['it must be a JSON object of nodes by id']);
  }
  if (Array.isArray((parsed as { nodes?: unknown }).nodes)) {
    throw new TemplateError([
      'it is in the UI format (it has a "nodes" array); export the workflow in the API format instead (Workflow → Export (API), or "Save (API Format)" in the older menu)',
    ]);
  }

  const problems: string[] = [];
  const entries = Object.entries(parsed as Record<string, unknown>);
  if (entries.length === 0) {
    problems.push('it has no nodes');
  }
  for (const [id, node] of entries) {
    const candidate = node as Partial<WorkflowNode> | null;
    if (candidate === null || typeof candidate !== 'object' || typeof candidate.class_type !== 'string') {
      problems.push(`node "${id}" has no class_type`);
    } else if (candidate.inputs === null || typeof candidate.inputs !== 'object' || Array.isArray(candidate.inputs)) {
      problems.push(`node "${id}" (${candidate.class_type}) has no inputs object`);
    }
  }
  if (problems.length > 0) {
    throw new TemplateError(problems);
  }

  const usage = inspectTemplate(parsed);
  if (usage.usesReferenceList) {
    throw new TemplateError([
      '{{reference_images}} is a list, but ComfyUI image inputs take one file name; use {{reference_image}} or {{reference_image_2}}, … in one LoadImage node each',
    ]);
  }
  return { workflow: parsed as Workflow, usage };
}
