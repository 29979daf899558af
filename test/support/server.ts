// Starts the real Node server on loopback with a real SQLite file in a temporary folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config.js';
import type { Clock } from '../../src/core/clock.js';
import type { LogLine } from '../../src/http/app.js';
import { type RunningServer, startServer } from '../../src/runtime/node.js';
import { type Call, createCall } from './call.js';

export type { ApiResponse, CallOptions } from './call.js';

export const ADMIN_TOKEN = 'gpk_test-admin-token-0123456789abcdef';

export interface TestServer extends RunningServer {
  dataDir: string;
  dbPath: string;
  logs: LogLine[];
  /** Calls the API with the bootstrap admin key unless `token` says otherwise (null: no key). */
  call: Call;
  /** Stops the server and starts it again on the same database file. */
  restart(): Promise<void>;
  /** Stops the server and deletes its data folder. */
  destroy(): Promise<void>;
}

export interface TestServerOptions {
  clock?: Clock;
  env?: Record<string, string>;
  dataDir?: string;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'gatepass-test-'));
  const dbPath = join(dataDir, 'gatepass.db');
  const parsed = parseConfig({
    PORT: '0',
    GATEPASS_DB: dbPath,
    GATEPASS_ADMIN_TOKEN: ADMIN_TOKEN,
    ...options.env,
  });
  if (!parsed.ok) throw new Error(parsed.message);
  const logs: LogLine[] = [];
  const start = () =>
    startServer({
      config: parsed.config,
      log: (line) => logs.push(line),
      announce: () => {},
      ...(options.clock ? { clock: options.clock } : {}),
    });
  let server = await start();

  const testServer: TestServer = {
    dataDir,
    dbPath,
    logs,
    get url() {
      return server.url;
    },
    close: () => server.close(),
    async restart() {
      await server.close();
      server = await start();
    },
    async destroy() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
    call: createCall(() => server.url, ADMIN_TOKEN),
  };
  return testServer;
}

/** Creates a namespace and a broker, failing the test on any error. */
export async function createBroker(
  server: TestServer,
  namespace: string,
  broker: string,
  settings: Record<string, unknown> = {},
) {
  const ns = await server.call('POST', '/v1/namespaces', { json: { name: namespace } });
  if (ns.status !== 200 && ns.status !== 409) throw new Error(`namespace: ${JSON.stringify(ns.body)}`);
  const created = await server.call('POST', `/v1/namespaces/${namespace}/brokers`, {
    json: { name: broker, ...settings },
  });
  if (created.status !== 200) throw new Error(`broker: ${JSON.stringify(created.body)}`);
  return created.body.result;
}
