// Writes openapi/openapi.json from the route definitions; with --check, fails when the file is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { openApiDocument } from '../src/http/app.js';

const file = new URL('../openapi/openapi.json', import.meta.url);
const generated = `${JSON.stringify(openApiDocument(), null, 2)}\n`;

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch {}
  if (current !== generated) {
    process.stderr.write('openapi/openapi.json is stale: run `npm run openapi` and commit the result.\n');
    process.exit(1);
  }
  process.stdout.write('openapi/openapi.json is up to date.\n');
} else {
  writeFileSync(file, generated);
  process.stdout.write('wrote openapi/openapi.json\n');
}
