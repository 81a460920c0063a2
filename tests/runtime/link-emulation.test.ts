// The emulated link: a request pays the round trip plus its bytes at the link's rates, and
// transfers on one direction queue behind each other.
import { describe, expect, it } from 'vitest';
import { shapedFetch } from '../../src/runtime/link-emulation.js';

const echo = (async (_input: string | URL | Request, init?: RequestInit) => new Response(new Uint8Array(init?.method === 'POST' ? 1000 : 0))) as typeof fetch;

describe('shapedFetch', () => {
  it('delays by rtt + up/down serialization and counts the bytes', async () => {
    // 100 kB up at 8 Mbps = 100 ms; 1000 B down at 0.8 Mbps = 10 ms; rtt 20 ms → ≥ 130 ms
    const f = shapedFetch(echo, { uplinkMbps: 8, downlinkMbps: 0.8, rttMs: 20 });
    const t0 = performance.now();
    const res = await f('http://x/', { method: 'POST', body: new Uint8Array(100_000) });
    const dt = performance.now() - t0;
    expect((await res.arrayBuffer()).byteLength).toBe(1000);
    expect(dt).toBeGreaterThanOrEqual(129);
    expect(f.stats()).toEqual({ requests: 1, upBytes: 100_000, downBytes: 1000 });
  });

  it('queues concurrent uploads on the one uplink', async () => {
    const f = shapedFetch(echo, { uplinkMbps: 8, downlinkMbps: 1000, rttMs: 0 });
    const t0 = performance.now();
    await Promise.all([0, 1, 2].map(() => f('http://x/', { method: 'POST', body: new Uint8Array(50_000) })));
    // three × 50 ms back to back, not in parallel
    expect(performance.now() - t0).toBeGreaterThanOrEqual(149);
  });

  it('rejects a link without bandwidth', () => {
    expect(() => shapedFetch(echo, { uplinkMbps: 0, downlinkMbps: 1, rttMs: 1 })).toThrow(/uplinkMbps/);
  });
});
