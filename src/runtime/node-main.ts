// `npm start`: configuration from the environment, clean shutdown on SIGTERM and SIGINT.
import { parseConfig } from '../config.js';
import { ListenError, startServer } from './node.js';

const parsed = parseConfig(process.env);
if (!parsed.ok) {
  process.stderr.write(`gatepass: ${parsed.message}\n`);
  process.exit(1);
}

const server = await startServer({ config: parsed.config }).catch((error: unknown) => {
  if (!(error instanceof ListenError)) throw error;
  process.stderr.write(`gatepass: ${error.message}\n`);
  process.exit(1);
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close().then(() => process.exit(0));
  });
}
