// ACL templates of identity sources: `${sub}` and `${attributes.x}` placeholders, each filling one whole
// topic level, checked once when a source is saved and expanded at every token exchange. A value that could
// widen the ACL (a level separator, a wildcard, U+0000, an empty level, a leading `$`) is refused, so an
// expanded filter never matches a topic that the template with `+` in each placeholder's level would not.
import { clientIdRule, isClientId, MAX_CLIENT_ID_LENGTH, MAX_FILTERS_PER_DIRECTION } from './claims.js';
import { readJsonPath } from './json.js';
import { MAX_FILTER_BYTES, topicFilterProblem, topicProblemMessages } from './topic.js';

/** As stored: a client id template and topic filter templates per direction. */
export interface AclTemplate {
  clientId: string;
  pub: string[];
  sub: string[];
}

export const DEFAULT_CLIENT_ID_TEMPLATE = '${sub}';

/** What placeholders read: `${sub}` is the principal, `${attributes.a.b}` a value below `attributes`. */
export interface TemplateValues {
  sub: string;
  attributes: unknown;
}

interface Placeholder {
  /** As written between `${` and `}`. */
  readonly name: string;
  /** Where to read it in a {@link TemplateValues}. */
  readonly path: readonly string[];
}

/** A literal piece of text, or a placeholder. */
type Piece = string | Placeholder;

/** A template checked by {@link compileAclTemplate}; expand it with {@link expandAclTemplate}. */
export interface CompiledAclTemplate {
  readonly template: AclTemplate;
  /** Literal text and placeholders, concatenated. */
  readonly clientId: readonly Piece[];
  /** One piece per topic level. */
  readonly pub: readonly (readonly Piece[])[];
  readonly sub: readonly (readonly Piece[])[];
}

export type TemplateProblem =
  | 'unknown_placeholder'
  | 'placeholder_not_whole_level'
  | 'malformed_placeholder'
  | 'invalid_filter'
  | 'invalid_client_id'
  | 'client_id_without_placeholder'
  | 'too_many_filters';

export type ExpansionProblem =
  | 'missing'
  | 'not_scalar'
  | 'empty'
  | 'forbidden_character'
  | 'leading_dollar'
  | 'too_long'
  | 'invalid_client_id';

/** `field` names the template at fault: `client_id`, `pub.0`, `sub.3`... */
export interface TemplateError<P> {
  problem: P;
  field: string;
  /** The placeholder whose value was refused, as written (`attributes.team`). */
  placeholder?: string;
  /** Says what is wrong without repeating the refused value. */
  message: string;
}

export type CompileResult =
  | { ok: true; template: CompiledAclTemplate }
  | { ok: false; error: TemplateError<TemplateProblem> };

export type ExpansionResult =
  | { ok: true; clientId: string; topicAcl: { pub: string[]; sub: string[] } }
  | { ok: false; error: TemplateError<ExpansionProblem> };

const PLACEHOLDER_LEVEL = /^\$\{([^{}]*)\}$/;
const PLACEHOLDER = /\$\{([^{}]*)\}/g;
const NAME_SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_NAME_SEGMENTS = 16;
/** A level separator, either wildcard, or U+0000 would change what a filter matches, not just fill a level. */
const FORBIDDEN_IN_VALUE = ['/', '+', '#', '\u0000'];
/** UTF-8 cannot encode a lone surrogate: it would be signed as U+FFFD, not as the value that was checked. */
const LONE_SURROGATE = /\p{Cs}/u;
/** What a placeholder stands for while a filter template's syntax is checked. */
const STAND_IN = 'x';

const fail = <P>(problem: P, field: string, message: string, placeholder?: string) => ({
  ok: false as const,
  error: { problem, field, message, ...(placeholder === undefined ? {} : { placeholder }) },
});

function parsePlaceholder(name: string): Placeholder | undefined {
  if (name === 'sub') return { name, path: ['sub'] };
  const [head, ...rest] = name.split('.');
  if (head !== 'attributes' || rest.length === 0 || rest.length > MAX_NAME_SEGMENTS) return undefined;
  if (!rest.every((segment) => NAME_SEGMENT.test(segment))) return undefined;
  return { name, path: ['attributes', ...rest] };
}

const unknownPlaceholderMessage = (name: string) =>
  `unknown placeholder \${${name}}: use \${sub} or \${attributes.<name>[.<name>...]} (letters, digits, _ and -)`;

/**
 * Checks a template once, when an identity source is saved: in topic filters every placeholder is a whole
 * level (`users/${sub}/#`, never `users/x${sub}`), and the filter is valid with any value in its place; the
 * client id template holds at least one placeholder and otherwise only client id characters.
 */
export function compileAclTemplate(template: AclTemplate): CompileResult {
  const clientId = compileClientId(template.clientId);
  if (!clientId.ok) return clientId;
  const directions = { pub: [] as Piece[][], sub: [] as Piece[][] };
  for (const direction of ['pub', 'sub'] as const) {
    const filters = template[direction];
    if (filters.length > MAX_FILTERS_PER_DIRECTION) {
      return fail(
        'too_many_filters',
        direction,
        `at most ${MAX_FILTERS_PER_DIRECTION} filter templates per direction`,
      );
    }
    for (const [i, filter] of filters.entries()) {
      const compiled = compileFilter(filter, `${direction}.${i}`);
      if (!compiled.ok) return compiled;
      directions[direction].push(compiled.levels);
    }
  }
  return { ok: true, template: { template, clientId: clientId.pieces, ...directions } };
}

function compileClientId(
  source: string,
): { ok: true; pieces: Piece[] } | { ok: false; error: TemplateError<TemplateProblem> } {
  const field = 'client_id';
  const pieces: Piece[] = [];
  let last = 0;
  for (const match of source.matchAll(PLACEHOLDER)) {
    const placeholder = parsePlaceholder(match[1]!);
    if (!placeholder) return fail('unknown_placeholder', field, unknownPlaceholderMessage(match[1]!));
    if (match.index > last) pieces.push(source.slice(last, match.index));
    pieces.push(placeholder);
    last = match.index + match[0].length;
  }
  if (last < source.length) pieces.push(source.slice(last));
  const literals = pieces.filter((piece) => typeof piece === 'string');
  if (literals.some((literal) => literal.includes('$') || literal.includes('{') || literal.includes('}'))) {
    return fail('malformed_placeholder', field, 'a placeholder is written ${name}, with nothing nested');
  }
  if (!pieces.some((piece) => typeof piece !== 'string')) {
    return fail(
      'client_id_without_placeholder',
      field,
      'the client id template needs a placeholder such as ${sub}, or every identity would share one client id',
    );
  }
  const withStandIns = pieces.map((piece) => (typeof piece === 'string' ? piece : STAND_IN)).join('');
  if (!isClientId(withStandIns)) {
    return fail(
      'invalid_client_id',
      field,
      `the client id template may only hold placeholders and client id characters: ${clientIdRule(MAX_CLIENT_ID_LENGTH)}`,
    );
  }
  return { ok: true, pieces };
}

function compileFilter(
  filter: string,
  field: string,
): { ok: true; levels: Piece[] } | { ok: false; error: TemplateError<TemplateProblem> } {
  const levels: Piece[] = [];
  for (const level of filter.split('/')) {
    const whole = PLACEHOLDER_LEVEL.exec(level);
    if (whole) {
      const placeholder = parsePlaceholder(whole[1]!);
      if (!placeholder) return fail('unknown_placeholder', field, unknownPlaceholderMessage(whole[1]!));
      levels.push(placeholder);
    } else if (level.includes('${')) {
      return fail(
        'placeholder_not_whole_level',
        field,
        'a placeholder must fill a whole topic level: a level is either literal text or exactly one ${...}',
      );
    } else {
      levels.push(level);
    }
  }
  const problem = topicFilterProblem(
    levels.map((level) => (typeof level === 'string' ? level : STAND_IN)).join('/'),
  );
  if (problem !== null) return fail('invalid_filter', field, topicProblemMessages[problem]);
  return { ok: true, levels };
}

type ValueResult = { ok: true; value: string } | { ok: false; problem: ExpansionProblem };

/** A placeholder's value as text, if it is a non-empty string or a finite number. */
function scalarValue(values: TemplateValues, placeholder: Placeholder): ValueResult {
  const raw = readJsonPath(values, placeholder.path);
  let value: string;
  if (typeof raw === 'string') value = raw;
  else if (typeof raw === 'number' && Number.isFinite(raw)) value = String(raw);
  else return { ok: false, problem: raw === undefined ? 'missing' : 'not_scalar' };
  return value === '' ? { ok: false, problem: 'empty' } : { ok: true, value };
}

const valueMessages: Record<ExpansionProblem, string> = {
  missing: 'has no value',
  not_scalar: 'is not a string or a number',
  empty: 'is empty',
  forbidden_character: "contains '/', '+', '#', U+0000 or a lone surrogate, which could widen the ACL",
  leading_dollar: "starts with '$' in the first topic level, which wildcards never match",
  too_long: `makes the topic filter longer than ${MAX_FILTER_BYTES} bytes`,
  invalid_client_id: 'does not expand to a client id',
};

const refused = (problem: ExpansionProblem, field: string, placeholder?: Placeholder, why?: string) =>
  fail(
    problem,
    field,
    `${placeholder ? `the value of \${${placeholder.name}} for ${field}` : field} ${valueMessages[problem]}${why ? ` (${why})` : ''}`,
    placeholder?.name,
  );

/**
 * Fills a compiled template with an identity's values, or refuses: a value must be a non-empty string or
 * finite number without `/`, `+`, `#` or U+0000 (and not start with `$` in a first level), and the client id
 * must come out as a client id (see `isClientId`) of at most `maxClientIdLength` characters, the broker's.
 * Filters that expand alike are listed once.
 */
export function expandAclTemplate(
  compiled: CompiledAclTemplate,
  values: TemplateValues,
  maxClientIdLength: number,
): ExpansionResult {
  let clientId = '';
  for (const piece of compiled.clientId) {
    if (typeof piece === 'string') {
      clientId += piece;
      continue;
    }
    const value = scalarValue(values, piece);
    if (!value.ok) return refused(value.problem, 'client_id', piece);
    clientId += value.value;
  }
  if (!isClientId(clientId, maxClientIdLength)) {
    return refused('invalid_client_id', 'client_id', undefined, clientIdRule(maxClientIdLength));
  }

  const topicAcl = { pub: [] as string[], sub: [] as string[] };
  for (const direction of ['pub', 'sub'] as const) {
    const expanded = new Set<string>();
    for (const [i, levels] of compiled[direction].entries()) {
      const field = `${direction}.${i}`;
      const parts: string[] = [];
      for (const [depth, level] of levels.entries()) {
        if (typeof level === 'string') {
          parts.push(level);
          continue;
        }
        const value = scalarValue(values, level);
        if (!value.ok) return refused(value.problem, field, level);
        if (FORBIDDEN_IN_VALUE.some((c) => value.value.includes(c)) || LONE_SURROGATE.test(value.value)) {
          return refused('forbidden_character', field, level);
        }
        // MQTT §4.7.2: `+` in a first level never matches a topic starting with '$'; the value must not either.
        if (depth === 0 && value.value.startsWith('$')) return refused('leading_dollar', field, level);
        parts.push(value.value);
      }
      const filter = parts.join('/');
      if (topicFilterProblem(filter) !== null) return refused('too_long', field);
      expanded.add(filter);
    }
    topicAcl[direction] = [...expanded];
  }
  return { ok: true, clientId, topicAcl };
}
