// What one request, or many, may cost a real `splitc serve` process: batches over --max-rows
// are refused from their JSON header before their tensors arrive; JSON bodies are bounded
// far below binary ones; a slow upload holds neither a queue slot nor its connection for
// long, and the request timeout fires when documented; and under concurrent maximal and
// adversarial requests (decompression bombs, oversized batches) the server's peak memory
// stays within the bound docs/serving.md states, and is returned afterwards.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { concatChunks, encodeInferRequest } from '../../src/runtime/kserve.js';
import { rawRequest, seededFloats, serversOfFile, TOKEN } from './helpers.js';

const ROW = 3 * 48 * 192;
const MiB = 2 ** 20;
const serve = serversOfFile();

/** A binary infer request for the classifier with `rows` rows: its body and headers. */
function binaryRequest(rows: number): { body: Buffer; headers: Record<string, string | number> } {
  const enc = encodeInferRequest([{ name: 'x', datatype: 'FP32', shape: [rows, 3, 48, 192], data: seededFloats(rows * ROW, rows) }]);
  return {
    body: Buffer.from(concatChunks(enc.chunks)),
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': enc.contentType, 'Inference-Header-Content-Length': enc.jsonLength! },
  };
}

const codeOf = (body: Buffer): unknown => (JSON.parse(body.toString()) as { code?: unknown }).code;

/**
 * Sends the request head, then `body` in `chunk`-byte pieces every `everyMs`, until the
 * server answers or closes; resolves with the answer and how many body bytes were sent.
 */
function trickle(port: number, head: string, body: Buffer, chunk: number, everyMs: number): Promise<{ reply: string; sent: number }> {
  return new Promise((resolve) => {
    let reply = '';
    let sent = 0;
    const s = net.connect(port, '127.0.0.1');
    const timer = setInterval(() => {
      if (sent >= body.length || s.destroyed) return;
      s.write(body.subarray(sent, sent + chunk));
      sent += Math.min(chunk, body.length - sent);
    }, everyMs);
    const finish = (): void => {
      clearInterval(timer);
      s.destroy();
      resolve({ reply, sent });
    };
    s.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      const m = /content-length: (\d+)/i.exec(reply);
      const at = reply.indexOf('\r\n\r\n');
      if (m && at >= 0 && reply.length >= at + 4 + Number(m[1])) finish();
    });
    s.on('error', () => {});
    s.on('close', finish);
    s.write(head);
  });
}

const statusOf = (reply: string): number => Number(/^HTTP\/1\.1 (\d+)/.exec(reply)?.[1] ?? 0);
const replyCode = (reply: string): unknown => (JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as { code?: unknown }).code;

/** The process that serves: `splitc serve` relaunches itself once (its allocator, docs/serving.md). */
function serverPid(launcher: number): number {
  const children = fs.readFileSync(`/proc/${launcher}/task/${launcher}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return children[0] ?? launcher;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function memoryOf(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)![1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

describe('splitc serve: what a request may cost', () => {
  it('refuses a batch over --max-rows from its JSON header, before the tensors arrive, and serves one at the limit', async () => {
    const { port } = await serve(['--max-rows', '8']);
    const big = binaryRequest(40);
    const headerLength = Number(big.headers['Inference-Header-Content-Length']);
    const head =
      `POST /v2/models/cls/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/octet-stream\r\n` +
      `Inference-Header-Content-Length: ${headerLength}\r\nContent-Length: ${big.body.length}\r\n\r\n`;
    // the header and 64 KiB of data, then a byte every 200 ms: the answer must not wait for the rest
    const first = headerLength + 64 * 1024;
    const r = await trickle(port, head + big.body.subarray(0, first).toString('latin1'), big.body.subarray(first), 1, 200);
    expect(statusOf(r.reply)).toBe(400);
    expect(replyCode(r.reply)).toBe('E_REQUEST_SHAPE');
    expect(r.reply).toMatch(/40 rows.*at most 8/);
    expect(r.sent).toBeLessThan(big.body.length - first);

    const ok = binaryRequest(8);
    const res = await rawRequest(port, 'POST', '/v2/models/cls/infer', ok);
    expect(res.status).toBe(200);
  }, 30_000);

  it('bounds JSON bodies (--max-json-bytes) far below binary ones, on the wire and decompressed', async () => {
    const { port } = await serve(['--max-json-bytes', String(64 * 1024)]);
    const json = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 192], data: Array.from(seededFloats(ROW, 3)) }] });
    expect(json.length).toBeGreaterThan(64 * 1024);
    const auth = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
    const plain = await rawRequest(port, 'POST', '/v2/models/cls/infer', { headers: auth, body: json });
    expect(plain.status).toBe(413);
    expect(codeOf(plain.body)).toBe('E_BODY_TOO_LARGE');
    expect(plain.body.toString()).toMatch(/binary extension/);
    const gz = await rawRequest(port, 'POST', '/v2/models/cls/infer', { headers: { ...auth, 'Content-Encoding': 'gzip' }, body: zlib.gzipSync(json) });
    expect(gz.status).toBe(413);
    expect(codeOf(gz.body)).toBe('E_BODY_TOO_LARGE');
    // the same tensor in the binary extension is served
    expect((await rawRequest(port, 'POST', '/v2/models/cls/infer', binaryRequest(1))).status).toBe(200);
  }, 30_000);

  it('slow uploads hold no queue slot: others are served meanwhile, and the slow ones get 408 once below the minimum rate', async () => {
    const { port } = await serve(['--max-queue', '2', '--min-upload-rate', '1024']);
    const head = `POST /v2/models/cls/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
    // six chunked bodies trickling one byte (as a one-byte chunk) every 300 ms
    const chunked = Buffer.from(Array.from({ length: 200 }, () => '1\r\n \r\n').join(''), 'latin1');
    const slow = Array.from({ length: 6 }, () => trickle(port, head, chunked, 6, 300));
    await new Promise((r) => setTimeout(r, 1000));
    const ok = await rawRequest(port, 'POST', '/v2/models/cls/infer', binaryRequest(1));
    expect(ok.status).toBe(200);
    const replies = await Promise.all(slow);
    for (const r of replies) {
      expect(statusOf(r.reply)).toBe(408);
      expect(replyCode(r.reply)).toBe('E_TIMEOUT');
      expect(r.sent).toBeLessThan(chunked.length);
    }
  }, 30_000);

  it('enforces --request-timeout-ms while the body is still arriving', async () => {
    const { port } = await serve(['--request-timeout-ms', '1000', '--min-upload-rate', '0']);
    const body = Buffer.alloc(2000, 32);
    const head = `POST /v2/models/cls/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    // 20 bytes every 200 ms: the whole body would take 20 s
    const r = await trickle(port, head, body, 20, 200);
    expect(statusOf(r.reply)).toBe(408);
    expect(replyCode(r.reply)).toBe('E_TIMEOUT');
    expect(r.sent).toBeLessThan(body.length);
  }, 30_000);

  it('under concurrent maximal and adversarial requests, peak memory stays within the documented bound and is returned after', async () => {
    const maxBody = 8 * MiB;
    const maxBuffered = 32 * MiB;
    const maxRows = 64;
    const { child, port } = await serve(['--max-body-bytes', String(maxBody), '--max-buffered-bytes', String(maxBuffered), '--max-rows', String(maxRows)]);
    const pid = serverPid(child.pid!);
    expect(pid).not.toBe(child.pid);
    const atLimit = binaryRequest(maxRows);
    // warm: the session's first run, then the memory of one run at the limit, alone
    expect((await rawRequest(port, 'POST', '/v2/models/cls/infer', binaryRequest(1))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
    const idle = memoryOf(pid).rss;
    expect((await rawRequest(port, 'POST', '/v2/models/cls/infer', atLimit)).status).toBe(200);
    const oneRun = Math.max(0, memoryOf(pid).peak - idle);

    // within the body limit but over --max-rows (72 rows × 108 KiB < 8 MiB)
    const overRows = binaryRequest(72);
    expect(overRows.body.length).toBeLessThan(maxBody);
    // decompression bombs: a valid header declaring an at-limit batch, then 256 MiB of zeros, gzipped
    const headerLength = Number(atLimit.headers['Inference-Header-Content-Length']);
    const bomb = zlib.gzipSync(Buffer.concat([atLimit.body.subarray(0, headerLength), Buffer.alloc(256 * MiB)]), { level: 9 });
    const kinds = [
      () => rawRequest(port, 'POST', '/v2/models/cls/infer', atLimit),
      () => rawRequest(port, 'POST', '/v2/models/cls/infer', overRows),
      () =>
        rawRequest(port, 'POST', '/v2/models/cls/infer', {
          headers: { ...atLimit.headers, 'Content-Encoding': 'gzip' },
          body: bomb,
        }),
    ];
    const statuses = await Promise.all(Array.from({ length: 96 }, (_, i) => kinds[i % 3]!().then((r) => `${i % 3}:${r.status}`)));
    const counts: Record<string, number> = {};
    for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
    // at-limit requests are served or told to retry (the body budget is full); the rest are refused
    expect(Object.keys(counts).filter((k) => !['0:200', '0:503', '1:400', '1:503', '2:400', '2:413', '2:503'].includes(k))).toEqual([]);
    expect(counts['0:200']).toBeGreaterThan(0);
    expect(counts['1:400']).toBeGreaterThan(0);
    expect(counts['2:400']).toBeGreaterThan(0);

    // docs/serving.md: peak ≤ idle + 2 × max-buffered-bytes + 2 × max-body-bytes + 2 × (one run
    // at the limit) per model + 64 KiB per connection + 64 MiB of released, not yet collected buffers
    const connections = 64; // rawRequest's agent opens at most 64
    const bound = idle + 2 * maxBuffered + 2 * maxBody + 2 * oneRun + connections * 64 * 1024 + 64 * MiB;
    const { peak } = memoryOf(pid);
    console.log(`server memory: idle ${(idle / MiB).toFixed(0)} MiB, one run ${(oneRun / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB, bound ${(bound / MiB).toFixed(0)} MiB`);
    expect(peak, `peak ${(peak / MiB).toFixed(0)} MiB, bound ${(bound / MiB).toFixed(0)} MiB (idle ${(idle / MiB).toFixed(0)}, one run ${(oneRun / MiB).toFixed(0)})`).toBeLessThanOrEqual(bound);

    // and the memory comes back: onnxruntime's arena is off, so a large run's buffers are freed;
    // the quiet server collects the burst's garbage (--expose-gc) and jemalloc returns the pages
    // freed between live blocks (docs/serving.md, Memory)
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('--expose-gc');
    expect(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'), 'the server should run on jemalloc: apt-get install libjemalloc2 (.ci/run does)').toContain('libjemalloc.so');
    let rss = memoryOf(pid).rss;
    let waited = 0;
    for (; waited < 30_000 && rss > 1.2 * idle; waited += 500) {
      await new Promise((r) => setTimeout(r, 500));
      rss = memoryOf(pid).rss;
    }
    console.log(`server memory after the burst: ${(rss / MiB).toFixed(0)} MiB after ${waited / 1000} s (idle ${(idle / MiB).toFixed(0)} MiB)`);
    expect(rss, `RSS ${(rss / MiB).toFixed(0)} MiB, idle ${(idle / MiB).toFixed(0)} MiB`).toBeLessThanOrEqual(1.2 * idle);
  }, 90_000);

  it('the relaunched server does not outlive its launcher, even one killed with SIGKILL', async () => {
    const { child } = await serve([]);
    const pid = serverPid(child.pid!);
    expect(pid).not.toBe(child.pid);
    child.kill('SIGKILL');
    for (let waited = 0; waited < 10_000 && alive(pid); waited += 100) await new Promise((r) => setTimeout(r, 100));
    expect(alive(pid)).toBe(false);
  }, 30_000);
});
