// A server-wide budget of bytes shared by concurrent requests: request bodies held in
// memory, decompression output in flight. `tryTake` refuses at once (the caller answers 503);
// `take` waits its turn, first come first served, so a burst of large reservations runs a
// few at a time instead of all at once.

export class ByteBudget {
  private used = 0;
  private readonly waiters: { bytes: number; grant: () => void }[] = [];

  constructor(readonly capacity: number) {}

  get inUse(): number {
    return this.used;
  }

  /** Takes `bytes` if they fit now (a request larger than the whole budget never fits). */
  tryTake(bytes: number): boolean {
    if (this.waiters.length > 0 || this.used + bytes > this.capacity) return false;
    this.used += bytes;
    return true;
  }

  /** Takes `bytes` (at most the capacity) once they fit, after everyone who asked earlier. */
  take(bytes: number): Promise<void> {
    const n = Math.min(bytes, this.capacity);
    if (this.tryTake(n)) return Promise.resolve();
    return new Promise((grant) => this.waiters.push({ bytes: n, grant }));
  }

  give(bytes: number): void {
    this.used = Math.max(0, this.used - Math.min(bytes, this.capacity));
    while (this.waiters.length > 0 && this.used + this.waiters[0]!.bytes <= this.capacity) {
      const w = this.waiters.shift()!;
      this.used += w.bytes;
      w.grant();
    }
  }
}
