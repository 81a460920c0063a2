// The emulated link: a request pays the round trip plus its bytes at the link's rates, and
// transfers on one direction queue behind each other. A virtual clock records the waits, so
// nothing here depends on wall-clock time.
import { describe, expect, it } from 'vitest';
import { type LinkClock, shapedFetch } from '../../src/runtime/link-emulation.js';

const echo = (async (_input: string | URL | Request, init?: RequestInit) => new Response(new Uint8Array(init?.method === 'POST' ? 1000 : 0))) as typeof fetch;

/** A clock that only moves when someone sleeps; records every wait. */
function virtualClock(): LinkClock & { waits: number[] } {
  let t = 0;
  const waits: number[] = [];
  return {
    waits,
    now: () => t,
    sleep: async (ms: number) => {
      waits.push(ms);
      t += Math.max(0, ms);
    },
  };
}

describe('shapedFetch', () => {
  it('waits rtt/2 + upload time before, rtt/2 + download time after, and counts the bytes', async () => {
    const clock = virtualClock();
    // 100 kB up at 8 Mbps = 100 ms; 1000 B down at 0.8 Mbps = 10 ms; rtt 20 ms
    const f = shapedFetch(echo, { uplinkMbps: 8, downlinkMbps: 0.8, rttMs: 20 }, clock);
    const res = await f('http://x/', { method: 'POST', body: new Uint8Array(100_000) });
    expect((await res.arrayBuffer()).byteLength).toBe(1000);
    expect(clock.waits.map((w) => Math.round(w * 1000) / 1000)).toEqual([110, 20]);
    expect(f.stats()).toEqual({ requests: 1, upBytes: 100_000, downBytes: 1000 });
  });

  it('queues concurrent uploads on the one uplink', async () => {
    const clock = virtualClock();
    const f = shapedFetch(echo, { uplinkMbps: 8, downlinkMbps: 1000, rttMs: 0 }, { now: clock.now, sleep: async (ms) => void clock.waits.push(ms) });
    await Promise.all([0, 1, 2].map(() => f('http://x/', { method: 'POST', body: new Uint8Array(50_000) })));
    // three × 50 ms back to back: each reservation ends 50 ms after the previous one
    expect(clock.waits.slice(0, 3).map((w) => Math.round(w))).toEqual([50, 100, 150]);
  });

  it('rejects a link without bandwidth', () => {
    expect(() => shapedFetch(echo, { uplinkMbps: 0, downlinkMbps: 1, rttMs: 1 })).toThrow(/uplinkMbps/);
  });
});
