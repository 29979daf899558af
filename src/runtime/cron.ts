// `npm run cron`: the scheduled job once against the configured database (for system cron or a k8s
// CronJob when the built-in scheduler is off), one JSON line with the counts on stdout, then exit.
import { parseConfig } from '../config.js';
import { systemClock } from '../core/clock.js';
import { jsonLog, openNodeServices } from './node.js';

const parsed = parseConfig(process.env);
if (!parsed.ok) {
  process.stderr.write(`gatepass cron: ${parsed.message}\n`);
  process.exit(1);
}

try {
  const { sqlite, services } = await openNodeServices({ config: parsed.config, log: jsonLog });
  try {
    await services.maintenance.runScheduledJob({ now: systemClock() });
  } finally {
    sqlite.close();
  }
} catch (error) {
  process.stderr.write(`gatepass cron: ${String(error)}\n`);
  process.exitCode = 1;
}
