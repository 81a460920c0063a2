// A shaped transport for benchmarks: wraps a fetch so that each request pays the link's
// round-trip time and its bytes cross at the link's uplink / downlink bandwidth, queued
// behind earlier transfers on the same direction (a link carries one byte stream at a
// time). Lets predicted and measured end-to-end latency be compared on one machine.

export interface EmulatedLink {
  uplinkMbps: number;
  downlinkMbps: number;
  rttMs: number;
}

function bodyBytes(body: RequestInit['body']): number {
  if (body === undefined || body === null) return 0;
  if (typeof body === 'string') return new TextEncoder().encode(body).length;
  if (body instanceof ArrayBuffer) return body.byteLength;
  if (ArrayBuffer.isView(body)) return body.byteLength;
  if (body instanceof Blob) return body.size;
  throw new TypeError('the emulated link measures string, Blob and byte bodies only');
}

const realSleep = (ms: number): Promise<void> => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

export interface LinkClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** `inner` behind an emulated link; `stats()` reports what crossed it. `clock` is for tests. */
export function shapedFetch(
  inner: typeof fetch,
  link: EmulatedLink,
  clock: LinkClock = { now: () => performance.now(), sleep: realSleep },
): typeof fetch & { stats(): { requests: number; upBytes: number; downBytes: number } } {
  const sleep = clock.sleep;
  for (const k of ['uplinkMbps', 'downlinkMbps', 'rttMs'] as const) {
    const v = link[k];
    if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0) || (k !== 'rttMs' && v === 0)) throw new RangeError(`link ${k} must be a positive number, got ${v}`);
  }
  let upFreeAt = 0;
  let downFreeAt = 0;
  let requests = 0;
  let upBytes = 0;
  let downBytes = 0;
  // Reserve the direction's next free slot: transfers on one direction never overlap.
  const occupy = (direction: 'up' | 'down', bytes: number): number => {
    const now = clock.now();
    const ms = (bytes * 8) / ((direction === 'up' ? link.uplinkMbps : link.downlinkMbps) * 1e3);
    const start = Math.max(now, direction === 'up' ? upFreeAt : downFreeAt);
    const end = start + ms;
    if (direction === 'up') upFreeAt = end;
    else downFreeAt = end;
    return end - now;
  };
  const f = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const up = bodyBytes(init.body);
    requests++;
    upBytes += up;
    await sleep(link.rttMs / 2 + occupy('up', up));
    const res = await inner(input, init);
    const data = new Uint8Array(await res.arrayBuffer());
    downBytes += data.length;
    await sleep(link.rttMs / 2 + occupy('down', data.length));
    const nullBody = res.status === 204 || res.status === 205 || res.status === 304 || data.length === 0;
    return new Response(nullBody ? null : data, { status: res.status, statusText: res.statusText, headers: res.headers });
  }) as typeof fetch & { stats(): { requests: number; upBytes: number; downBytes: number } };
  f.stats = () => ({ requests, upBytes, downBytes });
  return f;
}
