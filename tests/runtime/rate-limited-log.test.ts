// RateLimitedLog: the first line of a kind goes out, the rest of its interval only counts,
// and one summary line per interval reports the count.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RateLimitedLog } from '../../src/runtime/rate-limited-log.js';

describe('RateLimitedLog', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes one line per kind per interval and a summary of the rest', () => {
    const lines: string[] = [];
    const log = new RateLimitedLog((l) => lines.push(l), 10_000);
    for (let i = 0; i < 50; i++) log.log('bad request', `bad request ${i}`);
    log.log('internal error', 'internal error 0');
    expect(lines).toEqual(['bad request 0', 'internal error 0']);
    vi.advanceTimersByTime(10_000);
    expect(lines).toEqual(['bad request 0', 'internal error 0', 'bad request: 49 more in the last 10 s (not logged one by one)']);
    // A steady flood costs one line per interval.
    for (let i = 0; i < 30; i++) {
      log.log('bad request', 'again');
      vi.advanceTimersByTime(1_000);
    }
    expect(lines.slice(3)).toEqual(Array(3).fill('bad request: 10 more in the last 10 s (not logged one by one)'));
    // After a quiet interval the next one is written in full.
    vi.advanceTimersByTime(30_000);
    log.log('bad request', 'later');
    expect(lines.slice(-2)).toEqual(['bad request: 10 more in the last 10 s (not logged one by one)', 'later']);
  });

  it('flush writes the pending counts at once', () => {
    const lines: string[] = [];
    const log = new RateLimitedLog((l) => lines.push(l), 10_000);
    log.log('k', 'first');
    log.log('k', 'second');
    log.flush();
    expect(lines).toEqual(['first', 'k: 1 more in the last 10 s (not logged one by one)']);
    vi.advanceTimersByTime(60_000);
    expect(lines.length).toBe(2);
  });
});
