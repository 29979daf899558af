import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fillStringTemplates,
  jsonDepthExceeds,
  parseJsonPath,
  readJsonPath,
  stringTemplateProblem,
} from '../../src/core/json.js';

describe('JSON paths', () => {
  it.each([
    ['$', []],
    ['$.user_id', ['user_id']],
    ['$.data.user-id.0', ['data', 'user-id', '0']],
  ])('parses %s', (path, segments) => {
    expect(parseJsonPath(path)).toEqual(segments);
  });

  it.each([
    '',
    'user_id',
    '$.',
    '$..a',
    '$.a..b',
    '$[0]',
    "$['a']",
    '$.a.*',
    '$.a b',
    '$.a/b',
    `$${'.a'.repeat(17)}`,
  ])('refuses %j', (path) => {
    expect(parseJsonPath(path)).toBeUndefined();
  });

  const answer = JSON.parse(
    '{"user_id": "u1", "attributes": {"team": "red", "ids": [3, 4]}, "__proto__": "own"}',
  );

  it('reads members and array elements', () => {
    expect(readJsonPath(answer, ['user_id'])).toBe('u1');
    expect(readJsonPath(answer, ['attributes', 'team'])).toBe('red');
    expect(readJsonPath(answer, ['attributes', 'ids', '1'])).toBe(4);
    expect(readJsonPath(answer, [])).toBe(answer);
  });

  it('never reaches the prototype or outside the document', () => {
    expect(readJsonPath({}, ['constructor'])).toBeUndefined();
    expect(readJsonPath({}, ['toString'])).toBeUndefined();
    expect(readJsonPath({}, ['__proto__'])).toBeUndefined();
    expect(readJsonPath(answer, ['__proto__'])).toBe('own');
    expect(readJsonPath(answer, ['attributes', 'ids', 'length'])).toBeUndefined();
    expect(readJsonPath(answer, ['attributes', 'ids', '01'])).toBeUndefined();
    expect(readJsonPath(answer, ['attributes', 'ids', '9'])).toBeUndefined();
    expect(readJsonPath('text', ['length'])).toBeUndefined();
    expect(readJsonPath(null, ['a'])).toBeUndefined();
  });
});

describe('string templates', () => {
  const allowed = ['username', 'password'];

  it('finds unknown and malformed placeholders in string values, wherever they are', () => {
    expect(stringTemplateProblem({ a: '${username}', b: ['x ${password} y'] }, allowed)).toBeNull();
    expect(stringTemplateProblem({ a: { b: ['${secret}'] } }, allowed)).toEqual({
      problem: 'unknown_placeholder',
      name: 'secret',
      path: ['a', 'b', 0],
    });
    expect(stringTemplateProblem({ a: 'x ${username' }, allowed)).toEqual({
      problem: 'malformed',
      path: ['a'],
    });
    // Keys are never templates.
    expect(stringTemplateProblem({ '${whatever}': 1 }, allowed)).toBeNull();
  });

  it('keeps a hostile value inside its JSON string', () => {
    const template = { user: '${username}', pass: '${password}', fixed: true, n: 1 };
    const hostile = '", "admin": true, "x": "\\${password}$&$1';
    const text = JSON.stringify(fillStringTemplates(template, { username: hostile, password: 'p' }));
    expect(JSON.parse(text)).toEqual({ user: hostile, pass: 'p', fixed: true, n: 1 });
  });

  it('does not expand placeholders inside substituted values, and blanks missing ones', () => {
    expect(fillStringTemplates('${username}:${password}', { username: '${password}' })).toBe('${password}:');
  });

  it('keeps __proto__ keys as plain members', () => {
    const filled = fillStringTemplates(JSON.parse('{"__proto__": {"polluted": "${username}"}}'), {
      username: 'x',
    }) as Record<string, unknown>;
    expect(Object.getPrototypeOf(filled)).toBe(Object.prototype);
    expect(Object.hasOwn(filled, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('round-trips every value exactly (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (username, password) => {
        const template = { u: '${username}', nested: [{ p: 'pw:${password}' }] };
        const parsed = JSON.parse(JSON.stringify(fillStringTemplates(template, { username, password })));
        expect(parsed).toEqual({ u: username, nested: [{ p: `pw:${password}` }] });
      }),
    );
  });

  it('measures depth', () => {
    expect(jsonDepthExceeds('x', 0)).toBe(false);
    expect(jsonDepthExceeds({ a: [1] }, 2)).toBe(false);
    expect(jsonDepthExceeds({ a: [[1]] }, 2)).toBe(true);
  });
});
