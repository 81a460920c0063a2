// src/cli/program.ts: the command line as a function gives the exit code and output the process
// gives (tests/helpers/cli.ts runs it in-process), and never exits the process itself.

import { describe, expect, it } from 'vitest';
import { main, VERSION } from '../../src/cli/program.js';
import { runSplitc, spawnSplitc } from '../helpers/cli.js';
import { fixtures } from '../helpers/fixtures.js';

describe('splitc in-process', () => {
  const cls = fixtures()[0]!;

  it('gives the exit code, stdout and stderr the real process gives', async () => {
    for (const args of [
      ['inspect', 'fixtures/no-such.onnx'],
      ['inspect', 'fixtures/no-such.onnx', '--json'],
      ['frobnicate'],
      [],
      ['inspect', cls.path, '--shape', 'x=1x3x48x192', '--no-nodes'],
      ['--version'],
      ['split', '--help'],
    ]) {
      const inProcess = await runSplitc(args);
      expect(inProcess, args.join(' ')).toEqual(spawnSplitc(args));
    }
  }, 60_000);

  it('--help and --version print and give 0 without exiting', async () => {
    const out: string[] = [];
    expect(await main(['--version'], { stdout: (t) => void out.push(t), stderr: (t) => void out.push(`stderr: ${t}`) })).toBe(0);
    expect(out).toEqual([`${VERSION}\n`]);
    const help = await runSplitc(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^splitc <command>\n[^]*\bsplit <model>/);
    expect(help.stderr).toBe('');
  });
});
