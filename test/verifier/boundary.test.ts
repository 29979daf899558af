import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const FORBIDDEN = [
  /^hono/,
  /^@hono\//,
  /^drizzle-orm/,
  /^better-sqlite3/,
  /^node:/,
  /^(fs|path|crypto|http|net|os)$/,
];
const FORBIDDEN_DIRS = ['src/http', 'src/store', 'src/service', 'src/runtime', 'src/crypto'];

function importsOf(file: string): string[] {
  // Comments hold @example imports of 'gatepass/verifier'; only code counts.
  const source = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  return [
    ...source.matchAll(/(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((match) => (match[1] ?? match[2])!);
}

/** Every source file the verifier entry reaches, following relative imports. */
function reachableFrom(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    const specifiers = importsOf(file);
    seen.set(file, specifiers);
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) pending.push(resolve(dirname(file), specifier).replace(/\.js$/, '.ts'));
    }
  }
  return seen;
}

describe('the verifier package boundary', () => {
  const reachable = reachableFrom(join(root, 'src/verifier/index.ts'));

  it('reaches every verifier module from the entry', () => {
    const modules = readdirSync(join(root, 'src/verifier')).filter((name) => name.endsWith('.ts'));
    for (const name of modules) expect(reachable.has(join(root, 'src/verifier', name)), name).toBe(true);
  });

  it('imports only Web APIs, jose, zod, ulid, @noble/hashes and gatepass core', () => {
    for (const [file, specifiers] of reachable) {
      const path = relative(root, file);
      expect(path.startsWith('src/verifier/') || path.startsWith('src/core/'), path).toBe(true);
      expect(
        FORBIDDEN_DIRS.some((dir) => path.startsWith(dir)),
        path,
      ).toBe(false);
      for (const specifier of specifiers.filter((s) => !s.startsWith('.'))) {
        expect(
          FORBIDDEN.some((pattern) => pattern.test(specifier)),
          `${path} imports ${specifier}`,
        ).toBe(false);
        expect(
          ['jose', 'zod', 'ulid', '@noble/hashes/sha2.js', '@noble/hashes/utils.js'],
          `${path} imports ${specifier}`,
        ).toContain(specifier);
      }
    }
  });
});

describe('the verifier documentation', () => {
  it('gives every public export JSDoc with an @example', () => {
    const entry = join(root, 'src/verifier/index.ts');
    const program = ts.createProgram([entry], { strict: true, noEmit: true, skipLibCheck: true });
    const checker = program.getTypeChecker();
    const module = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
    const exports = checker.getExportsOfModule(module);
    expect(exports.length).toBeGreaterThan(20);
    const undocumented = exports
      .map((symbol) => (symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol))
      .filter((symbol) => !symbol.getJsDocTags(checker).some((tag) => tag.name === 'example'))
      .map((symbol) => symbol.name);
    expect(undocumented).toEqual([]);
  });
});
