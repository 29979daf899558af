// The webhook bench's baseline: EMQX HTTP authentication on a bare node:http server with the same verifier
// (createVerifier, local keys, an in-memory revocation set) and the same answer, nothing else. Run with tsx;
// configured by BARE_JWKS, BARE_ISSUER, BARE_AUDIENCE, BARE_ALGORITHM; prints "listening on <url>" to stderr.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authenticateEmqx } from '../../src/verifier/adapters/emqx.js';
import { createStaticRevocations, createVerifier, type SigningAlgorithm } from '../../src/verifier/index.js';

const verifier = createVerifier({
  keys: JSON.parse(process.env.BARE_JWKS!),
  issuer: process.env.BARE_ISSUER!,
  audience: process.env.BARE_AUDIENCE!,
  algorithms: [process.env.BARE_ALGORITHM as SigningAlgorithm],
  revocations: createStaticRevocations(),
});

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', async () => {
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString());
    } catch {
      body = undefined;
    }
    const fields = typeof body === 'object' && body !== null ? body : {};
    const { response: answer } = await authenticateEmqx(verifier, fields);
    const json = JSON.stringify(answer);
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(json),
    });
    response.end(json);
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stderr.write(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
