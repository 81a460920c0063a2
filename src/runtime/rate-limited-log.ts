// A log that anyone on the network can trigger must not be floodable: at most one line per
// kind of event per interval, and one summary line counting what was left out.

export class RateLimitedLog {
  private readonly kinds = new Map<string, { windowEndMs: number; suppressed: number; timer: NodeJS.Timeout | undefined }>();

  constructor(
    private readonly write: (line: string) => void,
    readonly intervalMs = 10_000,
  ) {}

  /**
   * Writes `line` unless a line of this kind was written less than intervalMs ago; then it
   * only counts it, and at the end of the interval writes one line with the count.
   */
  log(kind: string, line: string): void {
    const now = Date.now();
    const k = this.kinds.get(kind);
    if (k && now < k.windowEndMs) {
      k.suppressed++;
      k.timer ??= setTimeout(() => this.summarize(kind), k.windowEndMs - now).unref();
      return;
    }
    this.kinds.set(kind, { windowEndMs: now + this.intervalMs, suppressed: 0, timer: undefined });
    this.write(line);
  }

  /** Writes the pending counts now (e.g. before exiting). */
  flush(): void {
    for (const kind of this.kinds.keys()) this.summarize(kind);
  }

  private summarize(kind: string): void {
    const k = this.kinds.get(kind);
    if (!k) return;
    if (k.timer) clearTimeout(k.timer);
    k.timer = undefined;
    if (k.suppressed === 0) return;
    const n = k.suppressed;
    // The summary opens a new interval, so a steady flood costs one line per interval.
    k.suppressed = 0;
    k.windowEndMs = Date.now() + this.intervalMs;
    this.write(`${kind}: ${n} more in the last ${Math.round(this.intervalMs / 1000)} s (not logged one by one)`);
  }
}
