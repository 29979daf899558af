// `npm start`: configuration from the environment, clean shutdown on SIGTERM and SIGINT.
import { parseConfig } from '../config.js';
import { startServer } from './node.js';

const parsed = parseConfig(process.env);
if (!parsed.ok) {
  process.stderr.write(`gatepass: ${parsed.message}\n`);
  process.exit(1);
}

const server = await startServer({ config: parsed.config });
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close().then(() => process.exit(0));
  });
}
