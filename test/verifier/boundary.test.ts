import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
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

  it('imports only Web APIs, jose, zod, ulid and gatepass core', () => {
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
        expect(['jose', 'zod', 'ulid'], `${path} imports ${specifier}`).toContain(specifier);
      }
    }
  });
});

describe('the revocation feed and the Aedes adapter', () => {
  const reachable = reachableFrom(join(root, 'src/verifier/index.ts'));

  it('are part of the entry, so the import rules above hold for them', () => {
    for (const path of ['src/verifier/revocation-feed.ts', 'src/verifier/adapters/aedes.ts']) {
      expect(reachable.has(join(root, path)), path).toBe(true);
    }
  });

  it('import neither aedes nor mqtt, not even for types', () => {
    for (const path of ['src/verifier/revocation-feed.ts', 'src/verifier/adapters/aedes.ts']) {
      const source = readFileSync(join(root, path), 'utf8').replace(/^\s*(\/\/|\*).*$/gm, '');
      expect(source, path).not.toMatch(/from\s*['"](aedes|mqtt)/);
    }
  });
});

describe("importing 'gatepass/verifier'", () => {
  /** Records every module URL the ESM loader resolves after it is registered, one a line. */
  const recorder = `data:text/javascript,${encodeURIComponent(`
    import { appendFileSync } from 'node:fs';
    let out;
    export function initialize(data) { out = data.out; }
    export async function resolve(specifier, context, next) {
      const result = await next(specifier, context);
      appendFileSync(out, result.url + '\\n');
      return result;
    }`)}`;

  it('resolves through the package exports and loads only the verifier, core, jose and zod', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatepass-boundary-'));
    const out = join(dir, 'resolved.txt');
    const script = `
      import { register } from 'node:module';
      register(${JSON.stringify(recorder)}, { data: { out: ${JSON.stringify(out)} } });
      const verifier = await import('gatepass/verifier');
      process.stdout.write(JSON.stringify(Object.keys(verifier)));`;
    try {
      // A child process: the package self-reference, as a broker's code would import it, in a fresh loader.
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
      });
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      const code = await new Promise((done) => child.on('close', done));
      expect(code, stderr).toBe(0);
      expect(JSON.parse(stdout)).toEqual(
        expect.arrayContaining(['createVerifier', 'createRevocationFeed', 'createAedesAuth', 'connackCode']),
      );

      const urls = [...new Set(readFileSync(out, 'utf8').trim().split('\n'))];
      expect(urls).toContain(new URL('src/verifier/index.ts', `file://${root}/`).href);
      for (const url of urls) {
        expect(url.startsWith('file:'), `${url} (a builtin or other scheme)`).toBe(true);
        const path = relative(root, fileURLToPath(url));
        const packageName = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
        if (packageName !== undefined) {
          expect(['jose', 'zod'], path).toContain(packageName);
        } else {
          expect(path.startsWith('src/verifier/') || path.startsWith('src/core/'), path).toBe(true);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
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
