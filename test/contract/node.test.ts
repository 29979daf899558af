// The API contract against the Node server: better-sqlite3 on a real file, over loopback HTTP.
import { startTestServer } from '../support/server.js';
import { describeApiContract } from './api.contract.js';

describeApiContract('Node server, better-sqlite3', startTestServer);
