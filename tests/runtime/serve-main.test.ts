// Serving a folder: model discovery and naming, the serve entry (`splitc serve` and
// `node serve-main.js`) as real child processes, and SIGTERM finishing in-flight requests
// before exiting 0.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createKServeClient } from '../../src/runtime/client.js';
import { collectWhenIdle, defaultIntraOpThreads, discoverModels, findJemalloc, JEMALLOC_CONF, relaunchEnv, runServeCli, serveDirectory } from '../../src/runtime/serve-main.js';
import { repoRoot, tmpDir } from '../helpers/fixtures.js';
import { CLS_OUT, CLS_PATH, CLS_SHAPE, seededFloats, tinyModelBytes } from './helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function modelDir(manifest?: { file: string; body: unknown }, files: Record<string, Uint8Array | string> = { 'cls.onnx': CLS_PATH }): string {
  const dir = tmpDir('splitc-serve-');
  dirs.push(dir);
  for (const [name, src] of Object.entries(files)) {
    if (typeof src === 'string') fs.copyFileSync(src, path.join(dir, name));
    else fs.writeFileSync(path.join(dir, name), src);
  }
  if (manifest) fs.writeFileSync(path.join(dir, manifest.file), JSON.stringify(manifest.body));
  return dir;
}

describe('discoverModels', () => {
  it('names models by file stem without a manifest', () => {
    const dir = modelDir(undefined, { 'b.onnx': tinyModelBytes(), 'a.onnx': tinyModelBytes(), 'notes.txt': new TextEncoder().encode('x') });
    expect(discoverModels(dir).map((m) => [m.name, m.version, path.basename(m.path!)])).toEqual([
      ['a', undefined, 'a.onnx'],
      ['b', undefined, 'b.onnx'],
    ]);
  });
  it('takes names and versions from manifest.json models[]', () => {
    const dir = modelDir({ file: 'manifest.json', body: { models: [{ file: 'cloud/part.onnx', name: 'cloud', version: 3 }] } }, { 'part.onnx': tinyModelBytes(), 'other.onnx': tinyModelBytes() });
    expect(discoverModels(dir).map((m) => [m.name, m.version])).toEqual([
      ['other', undefined],
      ['cloud', '3'],
    ]);
  });
  it('takes the name of a single model from model.json', () => {
    const dir = modelDir({ file: 'model.json', body: { name: 'classifier' } });
    expect(discoverModels(dir).map((m) => m.name)).toEqual(['classifier']);
  });
  it('fails clearly on an empty or missing folder and a broken manifest', () => {
    expect(() => discoverModels(modelDir(undefined, {}))).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
    expect(() => discoverModels('/nonexistent/splitc')).toThrow(expect.objectContaining({ code: 'E_IO' }));
    const dir = modelDir();
    fs.writeFileSync(path.join(dir, 'manifest.json'), '{not json');
    expect(() => discoverModels(dir)).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
  });
});

describe('serveDirectory / runServeCli in process', () => {
  it('serves the folder with a token from SPLITC_TOKEN', async () => {
    const lines: string[] = [];
    const h = await serveDirectory({ dir: modelDir({ file: 'model.json', body: { name: 'clf' } }), port: 0, env: { SPLITC_TOKEN: 'tok\n' }, handleSignals: false, log: (l) => lines.push(l) });
    try {
      expect(lines[0]).toBe(`splitc serving clf@1 at ${h.address.url}/v2`);
      const out = await createKServeClient({ endpoint: h.address.url, token: 'tok', model: 'clf' }).infer({ x: { dtype: 'float32', dims: CLS_SHAPE, data: seededFloats(3 * 48 * 192, 3) } });
      expect(out[CLS_OUT]!.dims).toEqual([1, 2]);
    } finally {
      await h.close();
    }
  });
  it('serves the same answers with sessions on the event loop, one thread and spinning', async () => {
    const dir = modelDir({ file: 'model.json', body: { name: 'clf' } });
    const x = seededFloats(3 * 48 * 192, 4);
    const answers: Float32Array[] = [];
    for (const extra of [{}, { sessionOnMainThread: true, intraOpThreads: 1, spin: true }, { intraOpThreads: 0 }]) {
      const h = await serveDirectory({ dir, port: 0, auth: false, handleSignals: false, log: () => {}, ...extra });
      try {
        const out = await createKServeClient({ endpoint: h.address.url, model: 'clf' }).infer({ x: { dtype: 'float32', dims: CLS_SHAPE, data: x } });
        answers.push(out[CLS_OUT]!.data as Float32Array);
      } finally {
        await h.close();
      }
    }
    for (const other of answers.slice(1)) {
      const maxDiff = Math.max(...Array.from(answers[0]!, (v, i) => Math.abs(v - other[i]!)));
      expect(maxDiff).toBeLessThan(1e-5);
    }
  });

  it('gives each session half the cores by default, at least one', () => {
    expect([1, 2, 3, 4, 8, 64].map((c) => defaultIntraOpThreads(c))).toEqual([1, 1, 1, 2, 4, 32]);
    expect(defaultIntraOpThreads()).toBeGreaterThanOrEqual(1);
  });

  it('rejects bad arguments with E_BAD_ARGUMENT', async () => {
    const dir = modelDir();
    await expect(runServeCli([dir, '--port', 'x'])).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    await expect(runServeCli([dir, '--max-queue', '0'])).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    await expect(runServeCli([dir, '--intra-op-threads', '-1'])).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    await expect(runServeCli([dir, '--bogus'])).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    await expect(runServeCli([])).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    await expect(serveDirectory({ dir, port: 0, env: {}, handleSignals: false, log: () => {} })).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
  });
});

describe('the relaunched server\'s allocator', () => {
  const only = (...files: string[]) => (f: string): boolean => files.includes(f);
  const lib = process.arch === 'arm64' ? '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2' : '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';

  it('preloads jemalloc where Debian installs it, with pages returned after a second, and keeps the glibc thresholds', () => {
    expect(findJemalloc({}, only(lib))).toBe(lib);
    expect(findJemalloc({}, only('/usr/lib64/libjemalloc.so.2'))).toBe('/usr/lib64/libjemalloc.so.2');
    const env = relaunchEnv({ PATH: '/bin' }, only(lib));
    expect(env).toMatchObject({ PATH: '/bin', LD_PRELOAD: lib, MALLOC_CONF: JEMALLOC_CONF, MALLOC_MMAP_THRESHOLD_: '1048576', MALLOC_TRIM_THRESHOLD_: '16777216', SPLITC_RELAUNCHED: '1' });
    expect(env.SPLITC_ALLOCATOR).toBe(`jemalloc (${lib})`);
    expect(JEMALLOC_CONF).toContain('background_thread:true');
  });

  it('falls back to glibc, and leaves the user\'s LD_PRELOAD, MALLOC_CONF and SPLITC_JEMALLOC choices alone', () => {
    const none = relaunchEnv({}, () => false);
    expect(none.LD_PRELOAD).toBeUndefined();
    expect(none).toMatchObject({ MALLOC_MMAP_THRESHOLD_: '1048576', SPLITC_ALLOCATOR: 'glibc' });
    expect(relaunchEnv({ LD_PRELOAD: '/opt/tcmalloc.so' }, only(lib))).toMatchObject({ LD_PRELOAD: '/opt/tcmalloc.so', SPLITC_ALLOCATOR: 'LD_PRELOAD=/opt/tcmalloc.so' });
    expect(relaunchEnv({ MALLOC_CONF: 'dirty_decay_ms:0' }, only(lib)).MALLOC_CONF).toBe('dirty_decay_ms:0');
    expect(relaunchEnv({ SPLITC_JEMALLOC: '0' }, only(lib)).LD_PRELOAD).toBeUndefined();
    expect(findJemalloc({ SPLITC_JEMALLOC: '/opt/je.so' }, only('/opt/je.so', lib))).toBe('/opt/je.so');
    expect(findJemalloc({ SPLITC_JEMALLOC: '/missing.so' }, only(lib))).toBeUndefined();
  });
});

describe('collectWhenIdle', () => {
  it('collects once per quiet spell: no request since the last check, none in flight, 16 MiB of ArrayBuffers or more', () => {
    vi.useFakeTimers();
    try {
      const stats = { activeRequests: 0, totalRequests: 0, heldRequests: 0, waiting: {} };
      let buffers = 64 << 20;
      let collections = 0;
      const stop = collectWhenIdle({ stats: () => stats }, () => collections++, { everyMs: 1000, arrayBuffers: () => buffers });
      const tick = (): number => {
        vi.advanceTimersByTime(1000);
        return collections;
      };
      expect(tick()).toBe(0); // the first check only notes the count
      expect(tick()).toBe(1); // quiet since: collected
      expect(tick()).toBe(1); // once per quiet spell
      stats.totalRequests = 5; // traffic again
      expect(tick()).toBe(1);
      stats.activeRequests = 1; // a request in flight, no new one
      expect(tick()).toBe(1);
      stats.activeRequests = 0;
      expect(tick()).toBe(2);
      stats.totalRequests = 6;
      buffers = 1 << 20; // little to collect
      tick();
      expect(tick()).toBe(2);
      stop();
      stats.totalRequests = 7;
      buffers = 64 << 20;
      tick();
      expect(tick()).toBe(2); // stopped
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('as a child process', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; url: Promise<string>; exit: Promise<{ code: number | null; stderr: string }> } {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: repoRoot, env: { ...process.env, SPLITC_TOKEN: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = / at (http:\/\/127\.0\.0\.1:\d+)\/v2/.exec(stdout);
        if (m) resolve(m[1]!);
      });
      child.once('exit', () => reject(new Error(`exited before listening: ${stderr}`)));
    });
    url.catch(() => {});
    const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
    return { child, url, exit };
  }

  it('`splitc serve` answers, then SIGTERM finishes the in-flight request and exits 0', async () => {
    const dir = modelDir();
    const tokenFile = path.join(dir, 'token.txt');
    fs.writeFileSync(tokenFile, 'file-token\n');
    const s = start(['src/cli/main.ts', 'serve', dir, '--port', '0', '--token-file', tokenFile, '--max-batch-size', '4', '--max-queue-delay-ms', '700']);
    const url = await s.url;
    const client = createKServeClient({ endpoint: url, token: 'file-token', model: 'cls' });
    expect(await client.ready()).toBe(true);
    const pending = client.infer({ x: { dtype: 'float32', dims: CLS_SHAPE, data: seededFloats(3 * 48 * 192, 9) } });
    await new Promise((r) => setTimeout(r, 250)); // the request now waits in the batcher
    s.child.kill('SIGTERM');
    const out = await pending;
    expect(out[CLS_OUT]!.dims).toEqual([1, 2]);
    const { code } = await s.exit;
    expect(code).toBe(0);
  });

  it('`node serve-main.ts --no-auth` serves without a token; without one it exits 2 with a clear error', async () => {
    const dir = modelDir();
    const open = start(['src/runtime/serve-main.ts', dir, '--port', '0', '--no-auth']);
    const url = await open.url;
    expect((await fetch(`${url}/v2/models/cls`)).status).toBe(200);
    open.child.kill('SIGINT');
    expect((await open.exit).code).toBe(0);

    const closed = start(['src/runtime/serve-main.ts', dir, '--port', '0']);
    const r = await closed.exit;
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error E_BAD_ARGUMENT: the server needs a bearer token/);
  });
});
