// The Node transport behind the client: a fetch over node:http with keep-alive that answers
// standard Response objects (status, repeated headers, bodies, empty 204s), sends exact
// bytes, honours AbortSignal, and is what the client uses in Node by default.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKServeClient } from '../../src/runtime/client.js';
import { isNode, nodeFetch } from '../../src/runtime/node-transport.js';
import { CLS_SHAPE, seededFloats, startServer, TOKEN } from './helpers.js';

let server: http.Server;
let base: string;
const sockets = new Set<string>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    sockets.add(`${req.socket.remotePort}`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url === '/empty') {
        res.writeHead(204).end();
      } else if (req.url === '/slow') {
        setTimeout(() => res.end('late'), 2000);
      } else {
        res.setHeader('Set-Cookie', ['a=1', 'b=2']);
        res.writeHead(req.url === '/missing' ? 404 : 200, 'Custom Reason', { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ method: req.method, length: body.length, sum: [...body].reduce((a, b) => a + b, 0), type: req.headers['x-kind'] ?? null }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe('nodeFetch', () => {
  it('is chosen in Node', () => {
    expect(isNode()).toBe(true);
  });

  it('sends exact bytes and headers and answers a standard Response, reusing one connection', async () => {
    sockets.clear();
    const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) & 255);
    for (let k = 0; k < 3; k++) {
      const res = await nodeFetch(`${base}/echo`, { method: 'POST', body: bytes, headers: { 'X-Kind': 'bin' } });
      expect(res).toBeInstanceOf(Response);
      expect(res.ok).toBe(true);
      expect(res.statusText).toBe('Custom Reason');
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(res.headers.get('set-cookie')).toContain('a=1');
      expect(await res.json()).toEqual({ method: 'POST', length: bytes.length, sum: bytes.reduce((a, b) => a + b, 0), type: 'bin' });
    }
    expect(sockets.size).toBe(1);
  });

  it('passes error statuses through and gives 204 an empty body', async () => {
    const missing = await nodeFetch(`${base}/missing`);
    expect(missing.status).toBe(404);
    expect(missing.ok).toBe(false);
    const empty = await nodeFetch(`${base}/empty`, { method: 'DELETE' });
    expect(empty.status).toBe(204);
    expect(await empty.text()).toBe('');
  });

  it('aborts on the signal and refuses other protocols', async () => {
    // /slow would answer 'late' after 2 s: a rejection carrying the signal's reason means the abort cut it
    await expect(nodeFetch(`${base}/slow`, { signal: AbortSignal.timeout(50) })).rejects.toMatchObject({ name: 'TimeoutError' });
    const aborted = new AbortController();
    aborted.abort();
    await expect(nodeFetch(`${base}/echo`, { signal: aborted.signal })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(nodeFetch('ftp://127.0.0.1/x')).rejects.toThrow(/protocol/);
  });

  it('carries the client against the real server by default', async () => {
    const srv = await startServer();
    try {
      const client = createKServeClient({ endpoint: srv.url, token: TOKEN, model: 'cls' });
      const out = await client.infer({ x: { dtype: 'float32', dims: CLS_SHAPE, data: seededFloats(CLS_SHAPE.reduce((a, b) => a * b, 1), 3) } });
      expect(Object.values(out)[0]!.dims).toEqual([1, 2]);
      const bad = createKServeClient({ endpoint: srv.url, token: 'wrong', model: 'cls' });
      await expect(bad.metadata()).rejects.toMatchObject({ status: 401 });
    } finally {
      await srv.server.close();
    }
  });
});
