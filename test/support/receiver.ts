// A loopback HTTP server that records what it is sent and answers as the test says: the receiving end of
// revocation sinks (a webhook endpoint, a broker's management API).
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  /** The path and query, as sent (still percent-encoded). */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  /** How the next requests are answered (default: 204). */
  respond: (request: Received) => Answer;
  /** The `count`-th request from now on (1: the next one), once it has arrived. */
  next(count?: number): Promise<Received>;
  close(): Promise<void>;
}

export async function startReceiver(port = 0): Promise<Receiver> {
  const waiting: Array<{ index: number; resolve: (request: Received) => void }> = [];
  const receiver = {
    received: [] as Received[],
    respond: (): Answer => ({ status: 204 }),
    next(count = 1) {
      const index = receiver.received.length + count - 1;
      return new Promise<Received>((resolve) => waiting.push({ index, resolve }));
    },
  } as Omit<Receiver, 'url' | 'port' | 'close'>;
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      const request: Received = { method: req.method!, url: req.url!, headers: req.headers, body };
      receiver.received.push(request);
      const answer = receiver.respond(request);
      const text = answer.body === undefined ? '' : JSON.stringify(answer.body);
      res.writeHead(answer.status, {
        ...(text === '' ? {} : { 'content-type': 'application/json' }),
        ...answer.headers,
      });
      res.end(text);
      for (const waiter of waiting.filter((w) => w.index === receiver.received.length - 1)) {
        waiter.resolve(request);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = (server.address() as AddressInfo).port;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** A port that was free a moment ago: for a receiver that starts later. */
export async function freePort(): Promise<number> {
  const probe = await startReceiver();
  await probe.close();
  return probe.port;
}
