// Graceful shutdown has a deadline: a request whose body never finishes arriving (one POST
// declaring 100 bytes and sending 1) no longer keeps the process alive after SIGTERM; the
// server exits 0 soon after --shutdown-grace-ms, and a request already answered was answered.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, tmpDir } from '../helpers/fixtures.js';
import { CLS_PATH, TOKEN } from './helpers.js';

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

async function serve(extra: string[]): Promise<{ child: ChildProcess; port: number }> {
  const dir = tmpDir('splitc-shutdown-');
  fs.copyFileSync(CLS_PATH, path.join(dir, 'cls.onnx'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', dir, '--port', '0', ...extra], {
    cwd: repoRoot,
    env: { ...process.env, SPLITC_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = / at http:\/\/127\.0\.0\.1:(\d+)\/v2/.exec(stdout);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`the server exited before listening: ${stderr}`)));
  });
  return { child, port };
}

/** A POST that declares 100 bytes and sends 1, then nothing. */
function stalledUpload(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`POST /v2/models/cls/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`);
      resolve(s);
    });
    s.on('error', () => {});
    s.once('error', reject);
  });
}

describe('SIGTERM with a stalled upload', () => {
  it('exits 0 within the grace period instead of waiting for the upload', async () => {
    const { child, port } = await serve(['--shutdown-grace-ms', '1000']);
    const socket = await stalledUpload(port);
    await new Promise((r) => setTimeout(r, 300)); // the request is being read
    const t0 = Date.now();
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000))]);
    socket.destroy();
    expect(code).toBe(0);
    // the grace period, then the cut (the old code waited for the request timeout, 60 s and more)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  }, 60_000);

  it('rejects a negative grace period', async () => {
    const dir = tmpDir('splitc-shutdown-');
    fs.copyFileSync(CLS_PATH, path.join(dir, 'cls.onnx'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', dir, '--port', '0', '--shutdown-grace-ms', '-5'], { cwd: repoRoot, env: { ...process.env, SPLITC_TOKEN: TOKEN } });
    children.push(child);
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(2);
  }, 60_000);
});
