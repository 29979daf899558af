import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { filterCovers, topicMatches } from '../../src/core/acl.js';
import {
  type AclTemplate,
  type CompiledAclTemplate,
  compileAclTemplate,
  expandAclTemplate,
  type TemplateProblem,
  type TemplateValues,
} from '../../src/core/acl-template.js';
import { DEFAULT_MAX_CLIENT_ID_LENGTH, MAX_CLIENT_ID_LENGTH } from '../../src/core/claims.js';
import { topicFilterProblem } from '../../src/core/topic.js';

function compiled(template: Partial<AclTemplate>): CompiledAclTemplate {
  const result = compileAclTemplate({ clientId: '${sub}', pub: [], sub: [], ...template });
  if (!result.ok) throw new Error(result.error.message);
  return result.template;
}

function compileProblem(template: Partial<AclTemplate>) {
  const result = compileAclTemplate({ clientId: '${sub}', pub: [], sub: [], ...template });
  return result.ok ? null : { problem: result.error.problem, field: result.error.field };
}

const values = (sub: string, attributes: unknown = {}): TemplateValues => ({ sub, attributes });

/** Expands for a broker with the default max_client_id_length, unless told otherwise. */
const expand = (template: CompiledAclTemplate, with_: TemplateValues, max = DEFAULT_MAX_CLIENT_ID_LENGTH) =>
  expandAclTemplate(template, with_, max);

describe('compiling templates', () => {
  it('accepts placeholders that fill whole levels, literal wildcards and nested attributes', () => {
    const template = compiled({
      pub: ['users/${sub}/out/#', '${sub}'],
      sub: ['users/${sub}/in/#', 'teams/${attributes.team}/#', 'orgs/${attributes.org.id}/+/${sub}', '#'],
    });
    expect(template.pub).toHaveLength(2);
    expect(template.sub).toHaveLength(4);
  });

  it.each([
    [{ pub: ['users/x${sub}'] }, 'placeholder_not_whole_level', 'pub.0'],
    [{ pub: ['users/${sub}x/#'] }, 'placeholder_not_whole_level', 'pub.0'],
    [{ sub: ['a', 'users/${sub}${sub}'] }, 'placeholder_not_whole_level', 'sub.1'],
    [{ sub: ['users/${sub'] }, 'placeholder_not_whole_level', 'sub.0'],
    [{ sub: ['users/${${sub}}'] }, 'placeholder_not_whole_level', 'sub.0'],
    [{ pub: ['users/${user}'] }, 'unknown_placeholder', 'pub.0'],
    [{ pub: ['users/${attributes}'] }, 'unknown_placeholder', 'pub.0'],
    [{ pub: ['users/${attributes.}'] }, 'unknown_placeholder', 'pub.0'],
    [{ pub: ['users/${attributes.a b}'] }, 'unknown_placeholder', 'pub.0'],
    [{ pub: ['users/${}'] }, 'unknown_placeholder', 'pub.0'],
    [{ pub: ['a/#/${sub}'] }, 'invalid_filter', 'pub.0'],
    [{ pub: ['a/b#'] }, 'invalid_filter', 'pub.0'],
    [{ pub: [''] }, 'invalid_filter', 'pub.0'],
    [{ pub: ['a\u0000/${sub}'] }, 'invalid_filter', 'pub.0'],
    [{ pub: [`${'a'.repeat(1030)}/\${sub}`] }, 'invalid_filter', 'pub.0'],
    [{ pub: Array.from({ length: 33 }, (_, i) => `t/${i}`) }, 'too_many_filters', 'pub'],
    [{ clientId: 'fixed' }, 'client_id_without_placeholder', 'client_id'],
    [{ clientId: 'dev/${sub}' }, 'invalid_client_id', 'client_id'],
    [{ clientId: 'dev ${sub}' }, 'invalid_client_id', 'client_id'],
    [{ clientId: `${'a'.repeat(MAX_CLIENT_ID_LENGTH)}\${sub}` }, 'invalid_client_id', 'client_id'],
    [{ clientId: 'x-${sub' }, 'malformed_placeholder', 'client_id'],
    [{ clientId: '${nope}' }, 'unknown_placeholder', 'client_id'],
  ] as Array<[Partial<AclTemplate>, TemplateProblem, string]>)(
    'refuses %j (%s)',
    (template, problem, field) => {
      expect(compileProblem(template)).toEqual({ problem, field });
    },
  );

  it('accepts client id templates mixing text and placeholders', () => {
    expect(compileProblem({ clientId: 'u-${sub}' })).toBeNull();
    expect(compileProblem({ clientId: '${attributes.device}_${sub}' })).toBeNull();
    expect(compileProblem({ clientId: 'dev.${sub}@site:${attributes.n}|x' })).toBeNull();
  });
});

describe('expanding templates', () => {
  const template = compiled({
    pub: ['users/${sub}/out/#'],
    sub: ['users/${sub}/in/#', 'teams/${attributes.team}/#'],
  });

  it('fills whole levels from the principal and its attributes', () => {
    expect(expand(template, values('alice', { team: 'red' }))).toEqual({
      ok: true,
      clientId: 'alice',
      topicAcl: { pub: ['users/alice/out/#'], sub: ['users/alice/in/#', 'teams/red/#'] },
    });
  });

  it('accepts finite numbers as text', () => {
    const result = expand(compiled({ pub: ['orgs/${attributes.org}'] }), values('u1', { org: 42 }));
    expect(result).toMatchObject({ ok: true, topicAcl: { pub: ['orgs/42'] } });
  });

  it.each([
    ['a/#', {}, 'forbidden_character', 'sub'],
    ['a/b', {}, 'forbidden_character', 'sub'],
    ['+', {}, 'forbidden_character', 'sub'],
    ['#', {}, 'forbidden_character', 'sub'],
    ['x\u0000', {}, 'forbidden_character', 'sub'],
    ['x\ud800', {}, 'forbidden_character', 'sub'],
    ['alice', { team: '+' }, 'forbidden_character', 'attributes.team'],
    ['alice', { team: '#' }, 'forbidden_character', 'attributes.team'],
    ['alice', { team: 'red/#' }, 'forbidden_character', 'attributes.team'],
    ['alice', { team: '' }, 'empty', 'attributes.team'],
    ['alice', {}, 'missing', 'attributes.team'],
    ['alice', { team: null }, 'not_scalar', 'attributes.team'],
    ['alice', { team: true }, 'not_scalar', 'attributes.team'],
    ['alice', { team: ['red'] }, 'not_scalar', 'attributes.team'],
    ['alice', { team: { name: 'red' } }, 'not_scalar', 'attributes.team'],
    ['alice', { team: 1e21 }, 'forbidden_character', 'attributes.team'],
    ['alice', 'not an object', 'missing', 'attributes.team'],
  ])('refuses sub %j with attributes %j: %s', (sub, attributes, problem, placeholder) => {
    const result = expand(template, values(sub, attributes));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    if (placeholder === 'sub' && sub.length > 0) {
      // The client id is expanded first: a bad sub fails there before any topic level.
      expect(result.error.field).toBe('client_id');
      return;
    }
    expect(result.error).toMatchObject({ problem, placeholder });
  });

  it('refuses forbidden characters in topic levels even when the client id template does not use them', () => {
    const t = compiled({ clientId: 'fixed-${attributes.device}', sub: ['users/${sub}/#'] });
    for (const sub of ['a/#', '+', '#', 'a\u0000b', '']) {
      const result = expand(t, values(sub, { device: 'd1' }));
      expect(result.ok, JSON.stringify(sub)).toBe(false);
      if (!result.ok) expect(result.error.field).toBe('sub.0');
    }
  });

  it("refuses a value starting with '$' in a first level only", () => {
    const t = compiled({ clientId: 'c-${attributes.n}', pub: ['${sub}/out', 'x/${sub}'] });
    const first = expand(t, values('$SYS', { n: 1 }));
    expect(first).toMatchObject({ ok: false, error: { problem: 'leading_dollar', field: 'pub.0' } });
    const later = expand(
      compiled({ clientId: 'c-${attributes.n}', pub: ['x/${sub}'] }),
      values('$x', { n: 1 }),
    );
    expect(later).toMatchObject({ ok: true, topicAcl: { pub: ['x/$x'] } });
  });

  it('makes client ids of UUIDs, e-mail addresses and IdP subjects', () => {
    const t = compiled({ pub: ['users/${sub}/#'] });
    for (const sub of [
      '3f1c2f0e-8c5a-4b1e-9d7a-2a6b9c1d4e5f',
      'dot.ted@example.com',
      'auth0|5f7c8ec7',
      'x'.repeat(128),
    ]) {
      expect(expand(t, values(sub))).toMatchObject({ ok: true, clientId: sub });
    }
  });

  it("refuses a client id outside the character set or over the broker's max_client_id_length", () => {
    const t = compiled({ pub: ['users/${sub}/#'] });
    for (const sub of ['has space', 'ünï', 'a*b', 'a$b', 'tab\t', 'x'.repeat(129)]) {
      expect(expand(t, values(sub)), sub).toMatchObject({ ok: false, error: { field: 'client_id' } });
    }
    expect(expand(t, values('x'.repeat(41)), 40)).toMatchObject({
      ok: false,
      error: { problem: 'invalid_client_id', message: expect.stringMatching(/1 to 40 characters/) },
    });
    expect(expand(t, values('x'.repeat(40)), 40)).toMatchObject({ ok: true });
  });

  it('refuses a filter that grows past the length limit', () => {
    const t = compiled({ clientId: 'c-${attributes.n}', pub: ['a/${sub}'] });
    const result = expand(t, values('x'.repeat(1100), { n: 1 }));
    expect(result).toMatchObject({ ok: false, error: { problem: 'too_long', field: 'pub.0' } });
  });

  it('reads attributes by own property only', () => {
    const t = compiled({ clientId: 'c-${attributes.n}', pub: ['x/${attributes.constructor}'] });
    expect(expand(t, values('a', { n: 1 }))).toMatchObject({
      ok: false,
      error: { problem: 'missing' },
    });
    const own = JSON.parse('{"n": 1, "constructor": "ok"}');
    expect(expand(t, values('a', own))).toMatchObject({ ok: true, topicAcl: { pub: ['x/ok'] } });
  });

  it('lists filters that expand alike once', () => {
    const t = compiled({ pub: ['u/${sub}', 'u/${attributes.alias}'] });
    expect(expand(t, values('same', { alias: 'same' }))).toMatchObject({
      ok: true,
      topicAcl: { pub: ['u/same'] },
    });
  });
});

describe('properties', () => {
  // Levels and values drawn from characters that matter to MQTT filters.
  const chars = fc.constantFrom('a', 'b', '$', '/', '+', '#', '\u0000', '-', '.', ' ', 'é');
  const text = fc.string({ unit: chars, maxLength: 6 });
  // Values that pass often enough for the properties to check real expansions, not only refusals.
  const plain = fc.string({ unit: fc.constantFrom('a', 'b', '$', '-', 'é'), minLength: 1, maxLength: 4 });
  const subject = fc.oneof({ weight: 3, arbitrary: plain }, { weight: 1, arbitrary: text });
  const value = fc.oneof(
    { weight: 4, arbitrary: plain },
    text,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.array(text, { maxLength: 2 }),
    fc.dictionary(fc.constantFrom('a', 'b'), text),
  );
  const placeholders = ['${sub}', '${attributes.a}', '${attributes.b}', '${attributes.a.b}'];
  const literal = fc.constantFrom('a', 'b', '', '$SYS', '+', 'users', 'x y');
  const level = fc.oneof(literal, fc.constantFrom(...placeholders));
  const filterTemplate = fc
    .tuple(fc.array(level, { minLength: 1, maxLength: 5 }), fc.boolean())
    .map(([levels, hash]) => [...levels, ...(hash ? ['#'] : [])].join('/'));
  const attributes = fc.record({ a: value, b: value }, { requiredKeys: [] });

  /** The template with `+` in every placeholder's level: what expansion may never exceed. */
  const generalised = (filter: string) =>
    filter
      .split('/')
      .map((l) => (l.startsWith('${') ? '+' : l))
      .join('/');

  it('never expands to a filter matching more than the template with + in each placeholder level', () => {
    fc.assert(
      fc.property(
        filterTemplate,
        subject,
        attributes,
        fc.array(text, { maxLength: 6 }),
        (filter, sub, attrs, topicLevels) => {
          const result = compileAclTemplate({ clientId: 'c-${attributes.n}', pub: [filter], sub: [] });
          if (!result.ok) return;
          const expanded = expand(result.template, { sub, attributes: { ...attrs, n: 1 } });
          if (!expanded.ok) return;
          const [out] = expanded.topicAcl.pub;
          const outer = generalised(filter);
          expect(topicFilterProblem(out!)).toBeNull();
          expect(out!.split('/')).toHaveLength(filter.split('/').length);
          expect(filterCovers(outer, out!), `${outer} covers ${out}`).toBe(true);
          // A second oracle: a topic the expansion matches (wildcards filled in), the generalised template
          // matches too.
          const topic = out!
            .split('/')
            .map((l, i) =>
              l === '+' || l === '#'
                ? (topicLevels[i] ?? 'z').replaceAll(/[/+#]/g, '').replaceAll('\u0000', '')
                : l,
            )
            .join('/');
          if (topicMatches(out!, topic))
            expect(topicMatches(outer, topic), `${outer} matches ${topic}`).toBe(true);
          // Literal levels come through unchanged.
          filter.split('/').forEach((l, i) => {
            if (!l.startsWith('${')) expect(out!.split('/')[i]).toBe(l);
          });
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses every value with a level separator, a wildcard or U+0000 wherever it is used', () => {
    const bad = fc.tuple(text, fc.constantFrom('/', '+', '#', '\u0000'), text).map(([a, c, b]) => a + c + b);
    fc.assert(
      fc.property(bad, fc.constantFrom('${sub}', '${attributes.a}'), (badValue, placeholder) => {
        const t = compiled({ clientId: 'c-${attributes.n}', sub: [`x/${placeholder}/#`] });
        const result = expand(t, { sub: badValue, attributes: { a: badValue, n: 1 } });
        expect(result).toMatchObject({ ok: false, error: { problem: 'forbidden_character' } });
      }),
    );
  });

  it('only ever produces client ids of the character set, within the broker’s length', () => {
    fc.assert(
      fc.property(text, attributes, fc.integer({ min: 26, max: 256 }), (sub, attrs, max) => {
        const t = compiled({ clientId: 'u_${sub}-${attributes.a}' });
        const result = expand(t, { sub, attributes: attrs }, max);
        if (!result.ok) return;
        expect(result.clientId).toMatch(/^[0-9A-Za-z._@:|-]+$/);
        expect(result.clientId.length).toBeLessThanOrEqual(max);
      }),
    );
  });
});
