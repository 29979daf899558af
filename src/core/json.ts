// JSON for identity sources and untrusted documents: a tiny JSON path reader (`$.a[0].b`, no eval, own
// properties only), an iterative depth bound, and string templates whose `${name}` placeholders are substituted
// inside JSON string values, never spliced into text.

/** A decimal index into an array, when a name is used as one (`$.a.0`). */
const INDEX = /^(0|[1-9]\d{0,8})$/;
/** One step after `$`: `.name` or `[index]`. Sticky: each match must start where the last one ended. */
const PATH_STEP = /\.([A-Za-z0-9_-]{1,64})|\[(0|[1-9]\d{0,8})\]/y;
const MAX_SEGMENTS = 16;
const PLACEHOLDER = /\$\{([^{}]*)\}/g;

/**
 * The most levels of arrays and objects gatepass reads in JSON it did not write (request bodies, webhook
 * answers): a scalar is level 0, `{}` level 1. Far above any document the API takes; far below a stack.
 */
export const MAX_JSON_DEPTH = 32;

export type JsonScalar = string | number | boolean;

/** A step of a parsed path: a name (an object member, or a decimal index into an array), or an index. */
export type JsonPathSegment = string | number;

/**
 * Parses `$` (the document itself), `$.a.b`, `$.data[0].id` or `$.a.0` into its segments; undefined when the
 * path is not of that form. Names are letters, digits, `_` and `-`; no quotes, filters, wildcards or
 * recursive descent; at most 16 segments.
 */
export function parseJsonPath(path: string): JsonPathSegment[] | undefined {
  if (!path.startsWith('$')) return undefined;
  const segments: JsonPathSegment[] = [];
  for (let at = 1; at < path.length; at = PATH_STEP.lastIndex) {
    PATH_STEP.lastIndex = at;
    const step = PATH_STEP.exec(path);
    if (step === null || segments.length === MAX_SEGMENTS) return undefined;
    segments.push(step[1] ?? Number(step[2]));
  }
  return segments;
}

/**
 * Follows `segments` from `value`: object members by own property only (so `__proto__` or `constructor`
 * never reach the prototype), array elements by index (`[0]`, or a decimal name). Undefined when a step is
 * missing. Iterative, and at most 16 steps deep.
 */
export function readJsonPath(value: unknown, segments: readonly JsonPathSegment[]): unknown {
  let current = value;
  for (const segment of segments) {
    if (Array.isArray(current)) {
      if (typeof segment === 'string' && !INDEX.test(segment)) return undefined;
      current = current[Number(segment)];
    } else if (
      typeof segment === 'string' &&
      typeof current === 'object' &&
      current !== null &&
      Object.hasOwn(current, segment)
    ) {
      current = (current as Record<string, unknown>)[segment];
    } else {
      return undefined;
    }
  }
  return current;
}

/**
 * Where a JSON value nests arrays and objects deeper than `maxDepth` (a scalar has depth 0): the path to the
 * first container found past the limit, or null. Iterative, with an explicit stack, and it stops at the first
 * container past the limit: any depth costs no call stack, and no more than `maxDepth` levels are walked. Run
 * it before anything recursive (templates, refinements, stringify) touches a document from outside.
 */
export function jsonDepthExcess(value: unknown, maxDepth: number): JsonPathSegment[] | null {
  interface Node {
    value: unknown;
    depth: number;
    key: JsonPathSegment | undefined;
    parent: Node | undefined;
  }
  const pending: Node[] = [{ value, depth: 0, key: undefined, parent: undefined }];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    if (typeof node.value !== 'object' || node.value === null) continue;
    if (node.depth >= maxDepth) return pathTo(node);
    const entries: [JsonPathSegment, unknown][] = Array.isArray(node.value)
      ? node.value.map((item, i) => [i, item])
      : Object.entries(node.value);
    for (const [key, child] of entries) {
      if (typeof child === 'object' && child !== null) {
        pending.push({ value: child, depth: node.depth + 1, key, parent: node });
      }
    }
  }
  return null;

  function pathTo(node: Node): JsonPathSegment[] {
    const path: JsonPathSegment[] = [];
    for (let at: Node | undefined = node; at?.key !== undefined; at = at.parent) path.unshift(at.key);
    return path;
  }
}

export type StringTemplateProblem =
  | { problem: 'unknown_placeholder'; name: string }
  | { problem: 'malformed' };

/**
 * Checks every string value of a JSON template (object keys are never templates): each `${...}` must name
 * one of `allowed`, and no `${` may be left unclosed. Returns the first problem and the path to it, or null.
 * Recursive: bound the template's depth first ({@link jsonDepthExcess}).
 */
export function stringTemplateProblem(
  template: unknown,
  allowed: readonly string[],
  path: (string | number)[] = [],
): (StringTemplateProblem & { path: (string | number)[] }) | null {
  if (typeof template === 'string') {
    for (const [, name] of template.matchAll(PLACEHOLDER)) {
      if (!allowed.includes(name!)) return { problem: 'unknown_placeholder', name: name!, path };
    }
    if (template.replace(PLACEHOLDER, '').includes('${')) return { problem: 'malformed', path };
    return null;
  }
  if (Array.isArray(template)) {
    for (const [i, item] of template.entries()) {
      const found = stringTemplateProblem(item, allowed, [...path, i]);
      if (found) return found;
    }
  } else if (typeof template === 'object' && template !== null) {
    for (const [key, item] of Object.entries(template)) {
      const found = stringTemplateProblem(item, allowed, [...path, key]);
      if (found) return found;
    }
  }
  return null;
}

/**
 * A copy of a JSON template with `${name}` in its string values replaced by `values[name]` (unknown names
 * by ""). The result is a value to `JSON.stringify`: a value containing quotes, backslashes or `${...}`
 * stays inside its string and is never read as JSON or as another placeholder. Recursive, on templates whose
 * depth was bounded when they were saved.
 */
export function fillStringTemplates(template: unknown, values: Readonly<Record<string, string>>): unknown {
  if (typeof template === 'string') {
    // A replacer function: its result is inserted literally (no `$&`-style patterns).
    return template.replace(PLACEHOLDER, (_, name: string) =>
      Object.hasOwn(values, name) ? values[name]! : '',
    );
  }
  if (Array.isArray(template)) return template.map((item) => fillStringTemplates(item, values));
  if (typeof template === 'object' && template !== null) {
    // defineProperty, not assignment: a `__proto__` key (an own property after JSON.parse) stays a property.
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(template)) {
      Object.defineProperty(copy, key, {
        value: fillStringTemplates(item, values),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return copy;
  }
  return template;
}
