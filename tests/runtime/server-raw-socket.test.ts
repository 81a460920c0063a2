// A real `splitc serve` child process spoken to over raw TCP sockets: malformed request
// lines get a coded 400 and a rate-limited log line (not a 500 and a stack trace each), and
// a client that writes a whole oversized body before reading reads the 413, never a reset.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServe, TOKEN } from './helpers.js';

const MAX_BODY_BYTES = 64 * 1024;

let child: ChildProcess;
let port: number;
let stderr: () => string;
let dir: string;

beforeAll(async () => {
  ({ child, port, stderr, dir } = await spawnServe(['--max-body-bytes', String(MAX_BODY_BYTES)]));
}, 60_000);

afterAll(() => {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

function drainedOrClosed(s: net.Socket): Promise<void> {
  return new Promise((r) => {
    const done = (): void => {
      s.off('drain', done);
      s.off('close', done);
      r();
    };
    s.on('drain', done);
    s.on('close', done);
  });
}

/** Writes `head` and `body` (in chunks, waiting for each to drain) before reading anything, then reads to EOF. */
function writeAllThenRead(head: string, body: Buffer = Buffer.alloc(0)): Promise<{ reply: string; error?: string }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    // Not reading until everything is written, as clients that send the whole body first do.
    s.pause();
    const chunks: Buffer[] = [];
    let error: string | undefined;
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    s.on('close', () => resolve({ reply: Buffer.concat(chunks).toString('latin1'), ...(error ? { error } : {}) }));
    const write = async (b: Buffer | string): Promise<boolean> => {
      if (s.destroyed) return false;
      if (!s.write(b)) await drainedOrClosed(s);
      return !s.destroyed;
    };
    void (async () => {
      if (!(await write(head))) return;
      const CHUNK = 16 * 1024;
      for (let off = 0; off < body.length; off += CHUNK) if (!(await write(body.subarray(off, off + CHUNK)))) return;
      s.resume();
      // The reply is complete after its Content-Length; the server may keep the connection open.
      s.on('data', () => {
        const all = Buffer.concat(chunks).toString('latin1');
        const headEnd = all.indexOf('\r\n\r\n');
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(all.slice(0, headEnd))?.[1]);
        if (headEnd >= 0 && all.length >= headEnd + 4 + length) s.end();
      });
    })();
  });
}

function statusAndBody(reply: string): { status: number; body: unknown } {
  const headEnd = reply.indexOf('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(reply)?.[1]);
  const length = Number(/\r\ncontent-length: (\d+)/i.exec(reply.slice(0, headEnd))?.[1]);
  return { status, body: JSON.parse(reply.slice(headEnd + 4, headEnd + 4 + length)) };
}

describe('a spawned server over raw sockets', () => {
  it('answers malformed request lines 400 E_REQUEST_MALFORMED without a token, logging at most one line', async () => {
    const before = stderr().length;
    const targets = ['//[', '//[/v2/health/live', '//a:b/v2', 'http://[/v2', '//%zz/'];
    // Malformed HTTP caught by node's parser shares the one line per interval.
    const { reply: badHeader } = await writeAllThenRead('GET /v2 HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n');
    expect(statusAndBody(badHeader)).toMatchObject({ status: 400, body: { code: 'E_REQUEST_MALFORMED' } });
    for (let i = 0; i < 20; i++) {
      const target = targets[i % targets.length]!;
      const { reply } = await writeAllThenRead(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const { status, body } = statusAndBody(reply);
      expect(status, `${target}: ${reply.slice(0, 200)}`).toBe(400);
      expect(body).toMatchObject({ code: 'E_REQUEST_MALFORMED', error: expect.any(String) });
    }
    // The server still serves.
    expect(statusAndBody((await writeAllThenRead('GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n')).reply).status).toBe(200);
    const logged = stderr().slice(before).split('\n').filter((l) => l.trim() !== '');
    // One line for the first, the other 19 fall in its 10 s interval (no stack traces).
    expect(logged, logged.join('\n')).toEqual([expect.stringMatching(/^splitc server: malformed request from 127\.0\.0\.1: malformed HTTP \(HPE_/)]);
  }, 60_000);

  it('a client that writes a whole oversized body before reading reads the 413 every time', async () => {
    const results: string[] = [];
    for (let i = 0; i < 20; i++) {
      // Declared lengths far over the limit (the server answers before reading) and chunked bodies.
      const chunked = i % 2 === 1;
      const body = Buffer.alloc(MAX_BODY_BYTES * (8 + (i % 5) * 4), 0x20);
      const head = chunked
        ? `POST /v2/models/cls/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n`
        : `POST /v2/models/cls/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
      const wire = chunked ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]) : body;
      const { reply, error } = await writeAllThenRead(head, wire);
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(reply)?.[1];
      results.push(`${chunked ? 'chunked' : 'length'} ${body.length}: ${status ?? `no status (${error ?? 'EOF'})`}`);
      if (status === '413') expect(statusAndBody(reply).body).toMatchObject({ code: 'E_BODY_TOO_LARGE' });
    }
    expect(results.filter((r) => !r.endsWith(': 413')), results.join('\n')).toEqual([]);
    expect(statusAndBody((await writeAllThenRead('GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n')).reply).status).toBe(200);
  }, 120_000);

  it('stops draining a body far past the limit: the sender reads the 413 and is cut off after a bounded amount', async () => {
    const s = net.connect(port, '127.0.0.1');
    let reply = '';
    s.on('data', (c: Buffer) => (reply += c.toString('latin1')));
    s.on('error', () => {});
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    const sendAtMost = 256 * 1024 * 1024;
    let written = 0;
    s.write(`POST /v2/models/cls/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${2 ** 40}\r\n\r\n`);
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    while (!s.destroyed && written < sendAtMost) {
      written += chunk.length;
      if (!s.write(chunk)) await drainedOrClosed(s);
    }
    s.end();
    await closed;
    expect(reply).toMatch(/^HTTP\/1\.1 413 /);
    expect(reply).toMatch(/\r\nconnection: close\r\n/i);
    expect(written).toBeLessThan(sendAtMost);
  }, 60_000);
});
