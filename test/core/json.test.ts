import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fillStringTemplates,
  jsonDepthExcess,
  MAX_JSON_DEPTH,
  parseJsonPath,
  readJsonPath,
  stringTemplateProblem,
} from '../../src/core/json.js';

describe('JSON paths', () => {
  it.each([
    ['$', []],
    ['$.user_id', ['user_id']],
    ['$.data.user-id.0', ['data', 'user-id', '0']],
    ['$.data[0].id', ['data', 0, 'id']],
    ['$[0]', [0]],
    ['$.a[12][3]', ['a', 12, 3]],
    [`$${'.a'.repeat(15)}[0]`, [...Array(15).fill('a'), 0]],
  ])('parses %s', (path, segments) => {
    expect(parseJsonPath(path)).toEqual(segments);
  });

  it.each([
    '',
    'user_id',
    '$.',
    '$..a',
    '$.a..b',
    "$['a']",
    '$[-1]',
    '$[01]',
    '$[1e3]',
    '$[]',
    '$.a[0',
    '$.a[0]x',
    '$a',
    `$${'[0]'.repeat(17)}`,
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
    expect(readJsonPath(answer, ['attributes', 'ids', 1])).toBe(4);
    expect(readJsonPath(answer, parseJsonPath('$.attributes.ids[0]')!)).toBe(3);
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
    // An index reads arrays only: `[0]` is not the member "0" of an object.
    expect(readJsonPath({ 0: 'zero' }, [0])).toBeUndefined();
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
});

describe('depth', () => {
  it('finds the first container past the limit, and the path to it', () => {
    expect(jsonDepthExcess('x', 0)).toBeNull();
    expect(jsonDepthExcess({}, 0)).toEqual([]);
    expect(jsonDepthExcess({ a: [1] }, 2)).toBeNull();
    expect(jsonDepthExcess({ a: [[1]] }, 2)).toEqual(['a', 0]);
    expect(jsonDepthExcess({ ok: [{}], b: { c: [[]] } }, 3)).toEqual(['b', 'c', 0]);
  });

  it('walks any depth without recursion: 100,000 nested arrays', () => {
    const depth = 100_000;
    const deep = JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`);
    // A recursive walk overflows the stack long before this depth.
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    expect(jsonDepthExcess(deep, MAX_JSON_DEPTH)).toEqual(Array(MAX_JSON_DEPTH).fill(0));
    expect(jsonDepthExcess(deep, depth)).toBeNull();
  });
});
