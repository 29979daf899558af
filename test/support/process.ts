// Runs the service as `npm start` does, in its own process, for tests and benchmarks that need the real
// process boundary (signals, crashes, a client that does not share the server's event loop).
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout (its JSON log lines) and stderr so far. */
  output(): { stdout: string; stderr: string };
  /** SIGTERM, and the exit code once it has exited. */
  stop(): Promise<number | null>;
}

function spawnServer(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/runtime/node-main.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', GATEPASS_CRON_INTERVAL: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export interface ProcessExit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the service until it exits on its own (a start-up that fails); SIGKILLs it after `timeoutMs`, so a
 * process that starts serving instead ends too (with a null code).
 */
export function runServerProcessToExit(
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<ProcessExit> {
  const child = spawnServer(env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    // 'close': after the exit and the last of its output.
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function startServerProcess(env: Record<string, string>, timeoutMs = 30_000): Promise<ServerProcess> {
  const child = spawnServer(env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start in ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
      const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
      if (!url) return;
      clearTimeout(timer);
      resolve({
        url,
        child,
        output: () => ({ stdout, stderr }),
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          return exited;
        },
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening: ${stderr}`));
    });
  });
}
