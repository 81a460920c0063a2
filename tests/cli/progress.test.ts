// The progress reporter: a bar on a terminal, nothing when stderr is not one or in --json
// mode, and always cleared at the end (also when the work throws).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createProgress, type ProgressStream, withProgress } from '../../src/cli/progress.js';
import { fixtures, repoRoot, tmpDir } from '../helpers/fixtures.js';

function fakeStream(isTTY: boolean): ProgressStream & { text: () => string; chunks: string[] } {
  const chunks: string[] = [];
  return { isTTY, columns: 100, chunks, write: (c: string) => (chunks.push(c), true), text: () => chunks.join('') };
}

const CLEAR_LINE = '\x1b[2K';
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('createProgress', () => {
  it('draws a bar with the task label and counts on a terminal, and clears it on stop', async () => {
    const stream = fakeStream(true);
    const progress = createProgress({ stream });
    expect(progress.enabled).toBe(true);
    const onProgress = progress.task('calibrating');
    onProgress({ done: 0, total: 10 });
    onProgress({ done: 3, total: 10 });
    await settle(150); // the bar redraws at most 10 times a second
    expect(stream.text()).toContain('calibrating [');
    expect(stream.text()).toContain('3/10');
    progress.log('a line for people');
    expect(stream.text()).toContain('a line for people\n');
    progress.stop();
    expect(stream.chunks.at(-1)).toBe(CLEAR_LINE);
    const n = stream.chunks.length;
    progress.stop(); // idempotent
    await settle(250); // no redraw timer left behind
    expect(stream.chunks.length).toBe(n);
  });

  it('a new task label replaces the bar; totals may change', () => {
    const stream = fakeStream(true);
    const progress = createProgress({ stream });
    progress.task('calibrating')({ done: 8, total: 8 });
    progress.task('measuring fidelity')({ done: 1, total: 4 });
    progress.task('measuring fidelity')({ done: 2, total: 5 });
    progress.stop();
    const text = stream.text();
    expect(text.indexOf('calibrating [')).toBeLessThan(text.indexOf('measuring fidelity ['));
    expect(stream.chunks.at(-1)).toBe(CLEAR_LINE);
  });

  it('is silent when the stream is not a terminal, and in --json mode', () => {
    for (const [stream, json] of [
      [fakeStream(false), false],
      [fakeStream(true), true],
    ] as const) {
      const progress = createProgress({ stream, json });
      expect(progress.enabled).toBe(false);
      const onProgress = progress.task('calibrating');
      for (let i = 0; i <= 10; i++) onProgress({ done: i, total: 10 });
      progress.log('not shown');
      progress.stop();
      expect(stream.chunks).toEqual([]);
    }
  });

  it('withProgress clears the bar when the work throws', async () => {
    const stream = fakeStream(true);
    await expect(
      withProgress({ stream }, async (progress) => {
        progress.task('calibrating')({ done: 1, total: 10 });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(stream.text()).toContain('calibrating [');
    expect(stream.chunks.at(-1)).toBe(CLEAR_LINE);
    const n = stream.chunks.length;
    await settle(250);
    expect(stream.chunks.length).toBe(n);
  });
});

// util-linux `script` gives the CLI a terminal (stdout and stderr both), as a person would have.
const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
const cli = path.join(repoRoot, 'bin/splitc.js');
const sh = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`;

describe('splitc split --compress', () => {
  const cls = fixtures()[0]!;
  const args = (out: string) => ['split', cls.path, '--cut-after', 'p2o.Add.44', '--shape', 'x=1x3x48x192', '--compress', 'int8', '--calib', 'random:8', '-o', out];

  it('prints no progress when stderr is not a terminal, with or without --json', () => {
    const dir = tmpDir();
    try {
      for (const json of [true, false]) {
        const r = spawnSync(process.execPath, [cli, ...args(path.join(dir, `b${json}`)), ...(json ? ['--json'] : [])], { encoding: 'utf8', cwd: repoRoot });
        expect(r.status).toBe(0);
        expect(r.stderr).not.toMatch(/calibrating \[|measuring fidelity \[|\x1b/);
        if (json) expect(JSON.parse(r.stdout).compression).toBeDefined();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!hasScript)('on a terminal draws bars without --json and none with --json', () => {
    const dir = tmpDir();
    try {
      const onTerminal = (extra: string[]): string => {
        const cmd = [process.execPath, cli, ...args(path.join(dir, `b${extra.length}`)), ...extra].map(sh).join(' ');
        const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', cwd: repoRoot });
        expect(r.status).toBe(0);
        return r.stdout;
      };
      const people = onTerminal([]);
      expect(people).toContain('calibrating [');
      expect(people).toContain('measuring fidelity [');
      expect(people).toMatch(/^bundle /m);
      const json = onTerminal(['--json']);
      expect(json).not.toMatch(/calibrating \[|measuring fidelity \[|\x1b/);
      expect(JSON.parse(json.trim()).compression).toBeDefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
