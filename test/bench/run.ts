// Runs every bench in test/bench and prints one markdown section each, with the machine it ran on.
import { existsSync } from 'node:fs';
import { arch, cpus, loadavg, platform, totalmem } from 'node:os';
import { type BenchRow, markdownTable } from './harness.js';
import { runIssueBench } from './issue.bench.js';
import { runWebhookBench } from './webhook.bench.js';

interface Bench {
  title: string;
  run: () => Promise<BenchRow[]>;
}

const benches: Bench[] = [
  { title: 'Issuing credentials (100 per batch)', run: runIssueBench },
  { title: 'Broker webhooks: EMQX authentication over HTTP under load', run: runWebhookBench },
];

// Written separately and possibly not there yet: loaded only when present, and a failure to load it is
// reported in its own section without stopping the other benches.
const verifierBench = new URL('./verifier.bench.ts', import.meta.url);
if (existsSync(verifierBench)) {
  benches.push({
    title: 'Verifying credentials',
    async run() {
      const module = (await import(verifierBench.href)) as { runVerifierBench?: () => Promise<BenchRow[]> };
      if (typeof module.runVerifierBench !== 'function') {
        throw new Error('test/bench/verifier.bench.ts does not export runVerifierBench');
      }
      return module.runVerifierBench();
    },
  });
}

const processors = cpus();
/** Benchmarks on a shared machine: other work running alongside shows up here. */
const load = () =>
  loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
const started = performance.now();
console.log('# gatepass benchmarks\n');
console.log(
  `Machine: ${processors.length} × ${processors[0]?.model.trim() ?? 'unknown CPU'}, ` +
    `${Math.round(totalmem() / 2 ** 30)} GiB, ${platform()}/${arch()}; Node ${process.version}; ` +
    `${new Date().toISOString()}; load average before: ${load()}\n`,
);

for (const bench of benches) {
  console.log(`## ${bench.title}\n`);
  const benchStarted = performance.now();
  try {
    const rows = await bench.run();
    console.log(markdownTable(rows));
    console.log(`\n(${((performance.now() - benchStarted) / 1000).toFixed(1)} s)\n`);
  } catch (error) {
    console.log(`Failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  }
}
console.log(`Total: ${((performance.now() - started) / 1000).toFixed(1)} s; load average after: ${load()}`);
