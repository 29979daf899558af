// Time as an injectable dependency, so issuance, expiry and pruning are tested with a frozen clock.

/** Milliseconds since the Unix epoch. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

export function toEpochSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}
