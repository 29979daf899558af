// Small benchmark helpers shared by the benches: timed rounds with a median, ratios, markdown tables.

/** One measured line of a bench; `ratio` is this row's time per op divided by the baseline's (>1: slower). */
export interface BenchRow {
  name: string;
  opsPerSec: number;
  ratio?: number;
  baseline?: string;
  note?: string;
  /** Process CPU time per op in µs (every thread: the event loop and the libuv thread pool alike). */
  cpuPerOp?: number;
  /** cpuPerOp ÷ the baseline's: unlike wall time, hardly moved by other processes on a shared machine. */
  cpuRatio?: number;
}

export interface MeasureOptions {
  /** Minimum length of each timed round, in milliseconds. */
  minTime?: number;
  /** Untimed calls before the first round (JIT, caches, connections), in milliseconds. */
  warmup?: number;
  /** Timed rounds; the median round is reported, so one GC pause or hiccup does not move the result. */
  rounds?: number;
}

export type BenchCase = [name: string, fn: () => unknown];

/**
 * Rates of several functions, each called (and awaited) back to back: the median of `rounds` rounds.
 * Rounds alternate between the cases, so a busy neighbour or a slow minute weighs on all of them alike and
 * their ratios stay meaningful.
 */
export async function measureAll<const Cases extends readonly BenchCase[]>(
  cases: Cases,
  { minTime = 300, warmup = 200, rounds = 5 }: MeasureOptions = {},
): Promise<{ [K in keyof Cases]: BenchRow }> {
  for (const [, fn] of cases) {
    const warmupEnd = performance.now() + warmup;
    do await fn();
    while (performance.now() < warmupEnd);
  }
  const rates = cases.map((): number[] => []);
  const cpuTimes = cases.map((): number[] => []);
  for (let round = 0; round < rounds; round++) {
    for (const [i, [, fn]] of cases.entries()) {
      let ops = 0;
      let elapsed = 0;
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      do {
        await fn();
        ops++;
        elapsed = performance.now() - started;
      } while (elapsed < minTime);
      const cpu = process.cpuUsage(cpuBefore);
      rates[i]!.push((ops * 1000) / elapsed);
      cpuTimes[i]!.push((cpu.user + cpu.system) / ops);
    }
  }
  return cases.map(([name], i) => ({
    name,
    opsPerSec: median(rates[i]!),
    cpuPerOp: median(cpuTimes[i]!),
  })) as { [K in keyof Cases]: BenchRow };
}

/** The rate of one function: see `measureAll`. */
export async function measure(name: string, fn: () => unknown, options?: MeasureOptions): Promise<BenchRow> {
  const [row] = await measureAll([[name, fn]], options);
  return row;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The row compared with `baseline`: ratio = time per op / baseline's time per op. */
export function relativeTo(row: BenchRow, baseline: BenchRow, note?: string): BenchRow {
  const cpuRatio =
    row.cpuPerOp === undefined || baseline.cpuPerOp === undefined
      ? undefined
      : row.cpuPerOp / baseline.cpuPerOp;
  return {
    ...row,
    ratio: baseline.opsPerSec / row.opsPerSec,
    baseline: baseline.name,
    ...(cpuRatio === undefined ? {} : { cpuRatio }),
    ...(note === undefined ? {} : { note }),
  };
}

function formatRate(opsPerSec: number): string {
  return opsPerSec >= 100 ? Math.round(opsPerSec).toLocaleString('en-US') : opsPerSec.toPrecision(3);
}

function formatTime(opsPerSec: number): string {
  return formatDuration(1000 / opsPerSec);
}

function formatDuration(ms: number): string {
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return ms >= 0.001 ? `${(ms * 1000).toFixed(1)} µs` : `${(ms * 1e6).toFixed(1)} ns`;
}

/** Always time ÷ baseline time, so the same number means the same thing in every row. */
function formatRatio(ratio: number): string {
  return ratio >= 1 ? `${ratio.toFixed(2)}x slower` : `${ratio.toFixed(3)}x (faster)`;
}

const escapeCell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

export function markdownTable(rows: BenchRow[]): string {
  const withCpu = rows.some((row) => row.cpuPerOp !== undefined);
  const header = ['Benchmark', 'ops/s', 'time/op', 'vs baseline (time ÷ baseline time)'];
  const align = ['---', '---:', '---:', '---:'];
  if (withCpu) {
    header.push('CPU/op', 'CPU vs baseline');
    align.push('---:', '---:');
  }
  header.push('Baseline', 'Note');
  align.push('---', '---');
  const lines = [`| ${header.join(' | ')} |`, `| ${align.join(' | ')} |`];
  for (const row of rows) {
    const cells = [
      row.name,
      formatRate(row.opsPerSec),
      formatTime(row.opsPerSec),
      row.ratio === undefined ? '' : formatRatio(row.ratio),
    ];
    if (withCpu) {
      cells.push(
        row.cpuPerOp === undefined ? '' : formatDuration(row.cpuPerOp / 1000),
        row.cpuRatio === undefined ? '' : formatRatio(row.cpuRatio),
      );
    }
    cells.push(row.baseline ?? '', row.note ?? '');
    lines.push(`| ${cells.map(escapeCell).join(' | ')} |`);
  }
  return lines.join('\n');
}
