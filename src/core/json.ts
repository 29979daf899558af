// JSON for identity sources: a tiny JSON path reader (`$.a.b`, no eval, own properties only) and string
// templates whose `${name}` placeholders are substituted inside JSON string values, never spliced into text.

/** One step of a path: a property name, or a decimal index into an array. */
const SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_SEGMENTS = 16;
const PLACEHOLDER = /\$\{([^{}]*)\}/g;

/**
 * Parses `$` (the document itself) or `$.a.b.0` into its segments; undefined when the path is not of that
 * form. Only dotted names are supported: no brackets, filters, wildcards or recursive descent.
 */
export function parseJsonPath(path: string): string[] | undefined {
  if (path === '$') return [];
  if (!path.startsWith('$.')) return undefined;
  const segments = path.slice(2).split('.');
  if (segments.length > MAX_SEGMENTS || !segments.every((segment) => SEGMENT.test(segment))) return undefined;
  return segments;
}

/**
 * Follows `segments` from `value`: object members by own property only (so `__proto__` or `constructor`
 * never reach the prototype), array elements by decimal index. Undefined when a step is missing.
 */
export function readJsonPath(value: unknown, segments: readonly string[]): unknown {
  let current = value;
  for (const segment of segments) {
    if (Array.isArray(current)) {
      if (!/^(0|[1-9]\d{0,8})$/.test(segment)) return undefined;
      current = current[Number(segment)];
    } else if (typeof current === 'object' && current !== null && Object.hasOwn(current, segment)) {
      current = (current as Record<string, unknown>)[segment];
    } else {
      return undefined;
    }
  }
  return current;
}

/** Whether a JSON value nests arrays and objects deeper than `maxDepth` (a scalar has depth 0). */
export function jsonDepthExceeds(value: unknown, maxDepth: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (maxDepth === 0) return true;
  const children = Array.isArray(value) ? value : Object.values(value);
  return children.some((child) => jsonDepthExceeds(child, maxDepth - 1));
}

export type StringTemplateProblem =
  | { problem: 'unknown_placeholder'; name: string }
  | { problem: 'malformed' };

/**
 * Checks every string value of a JSON template (object keys are never templates): each `${...}` must name
 * one of `allowed`, and no `${` may be left unclosed. Returns the first problem and the path to it, or null.
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
 * stays inside its string and is never read as JSON or as another placeholder.
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
