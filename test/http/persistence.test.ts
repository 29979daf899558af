import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import packageJson from '../../package.json' with { type: 'json' };
import { createBroker, startTestServer } from '../support/server.js';

describe('persistence', () => {
  it('finds namespaces, brokers, keys and revocations again after a restart on the same file', async () => {
    const server = await startTestServer();
    try {
      await createBroker(server, 'home', 'sensors');
      const issued = await server.call(
        'GET',
        '/v1/namespaces/home/brokers/sensors/credentials?clientid=lamp',
      );
      const token = issued.body.result.lamp as string;
      const gone = await server.call('GET', '/v1/namespaces/home/brokers/sensors/credentials?detail=true');
      const goneJti: string = gone.body.result[0].jti;
      await server.call('POST', `/v1/namespaces/home/brokers/sensors/revocations?jti=${goneJti}`);

      await server.restart();

      const keys = await server.call('GET', '/v1/namespaces/home/brokers/sensors/publickeys', {
        token: null,
      });
      await jwtVerify(token, createLocalJWKSet(keys.body.result), { audience: 'sensors.home' });
      const revocations = await server.call('GET', '/v1/namespaces/home/brokers/sensors/revocations');
      expect(revocations.body.result.map((entry: { jti: string }) => entry.jti)).toEqual([goneJti]);
      const again = await server.call('GET', '/v1/namespaces/home/brokers/sensors/credentials?clientid=lamp');
      expect(again.status).toBe(200);
      await jwtVerify(again.body.result.lamp, createLocalJWKSet(keys.body.result));
    } finally {
      await server.destroy();
    }
  });
});

/** Runs the `npm start` command itself (without npm in between, so signals reach the server). */
function npmStart(env: Record<string, string>) {
  return spawn('sh', ['-c', `exec ${packageJson.scripts.start}`], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('npm start (the quick start)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatepass-start-'));
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints where it listens and the first admin key, serves with it, and stops cleanly on SIGTERM', async () => {
    child = npmStart({
      PORT: '0',
      GATEPASS_DB: join(dataDir, 'db', 'gatepass.db'),
      GATEPASS_ADMIN_TOKEN: '',
    });
    let stderr = '';
    let stdout = '';
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
    });
    const started = new Promise<{ url: string; key: string }>((resolve, reject) => {
      child!.stderr!.on('data', (chunk) => {
        stderr += chunk;
        const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
        const key = /\n\s+(gpk_[A-Za-z0-9_-]{43})\n/.exec(stderr)?.[1];
        if (url && key) resolve({ url, key });
      });
      child!.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const { url, key } = await started;
    expect(stderr).toContain('generated a key-encryption key');
    expect(statSync(join(dataDir, 'db', 'kek.key')).mode & 0o777).toBe(0o600);

    const response = await fetch(`${url}/v1/namespaces`, { headers: { authorization: `Bearer ${key}` } });
    expect(response.status).toBe(200);
    const health = await fetch(`${url}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok' });

    const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const logLines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(logLines).toContainEqual(
      expect.objectContaining({ msg: 'request', method: 'GET', path: '/v1/namespaces', status: 200 }),
    );
    expect(stdout).not.toContain(key);
  });

  it('names the bad variable when the configuration is invalid', async () => {
    const run = npmStart({ PORT: 'eighty', GATEPASS_DB: join(dataDir, 'x.db') });
    let stderr = '';
    run.stderr!.on('data', (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise<number | null>((resolve) => run.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/PORT: must be a port number/);
  });
});
