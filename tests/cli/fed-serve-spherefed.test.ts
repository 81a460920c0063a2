// `splitc fed serve --algo spherefed --calibrate --secure` with two `splitc fed join` clients
// (in-process, 127.0.0.1, a small synthetic IDX data set): two rounds on the fixed head, the
// secure calibration phase, then model.onnx is the calibrated model and history.json says how
// the phase closed; the join clients need no new flags. SphereFed's flag checks get codes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.js';
import { loadModel } from '../../src/ir/serde/io.js';
import { runSplitc } from '../helpers/cli.js';
import { syntheticFashion } from '../helpers/fed-data.js';
import { tmpDir } from '../helpers/fixtures.js';

const data = syntheticFashion(96, 10);
const work = tmpDir('splitc-fed-sphere-');
const tokenFile = path.join(work, 'token.txt');
fs.writeFileSync(tokenFile, 'fed-sphere-secret\n');
// widths 4,16: SphereFed needs at least as many features (16) as classes (10)
const serveArgs = ['fed', 'serve', '--arch', 'resnet8', '--widths', '4,16', '--algo', 'spherefed', '--min-clients', '2', '--local-epochs', '1', '--batch', '8', '--lr', '0.05', '--seed', '3', '--token-file', tokenFile, '--port', '0', '--linger-s', '0.3', '--json'];
const joinArgs = (url: string, k: number) => ['fed', 'join', url, '--token-file', tokenFile, '--data', 'fashion-mnist', '--data-dir', data, '--clients', '2', '--client-index', String(k), '--iid', '--seed', '3', '--json'];

function start(args: string[]): { done: Promise<string[]>; listening: Promise<string> } {
  const lines: string[] = [];
  let heard: (url: string) => void;
  const listening = new Promise<string>((r) => (heard = r));
  let stderr = '';
  const done = main(args, {
    stdout: (t) => {
      for (const line of t.split('\n').filter(Boolean)) {
        lines.push(line);
        const j = JSON.parse(line) as { listening?: string };
        if (j.listening !== undefined) heard(j.listening);
      }
    },
    stderr: (t) => void (stderr += t),
  }).then((code) => {
    if (code !== 0) throw new Error(`splitc ${args.slice(0, 2).join(' ')} exited ${code}: ${lines.join('\n')} ${stderr}`);
    return lines;
  });
  return { done, listening };
}

describe('splitc fed serve --algo spherefed --calibrate --secure', () => {
  it('two fed join clients train two rounds, then the secure calibration; model.onnx is the calibrated model', async () => {
    const out = path.join(work, 'run');
    const serve = start([...serveArgs, '--rounds', '2', '--calibrate', '--lambda', '0.001', '--secure', '-o', out]);
    const url = await serve.listening;
    const joins = await Promise.all([0, 1].map((k) => start(joinArgs(url, k)).done));
    const lines = await serve.done;
    const summary = JSON.parse(lines.at(-1)!) as { state: string; rounds: number; calibration: { clients: string[]; attempts: number; closedBy: string; samples: number } };
    expect(summary).toMatchObject({ state: 'done', rounds: 2, calibration: { clients: ['client-0', 'client-1'], attempts: 1, closedBy: 'all-in', samples: 96 } });
    // the calibrated inference model: one output, named as the original's
    expect(loadModel(path.join(out, 'model.onnx')).graph.outputs.map((o) => o.name)).toEqual(['logits']);
    const h = JSON.parse(fs.readFileSync(path.join(out, 'history.json'), 'utf8'));
    expect(h.config).toMatchObject({ algorithm: 'spherefed', base: 'fedavg', mu: null, calibration: { lambda: 0.001, secure: true } });
    expect(h.calibration).toMatchObject({ round: 3, clients: ['client-0', 'client-1'] });
    for (const j of joins) expect(JSON.parse(j.at(-1)!)).toMatchObject({ state: 'done' });
  }, 30_000);

  it("SphereFed's flags: bad combinations exit non-zero with E_BAD_ARGUMENT", async () => {
    const out = path.join(work, 'bad');
    const code = async (args: string[]): Promise<string> => {
      const r = await runSplitc(args);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      return (JSON.parse(r.stdout) as { error: { code: string } }).error.code;
    };
    const fedavg = serveArgs.map((a) => (a === 'spherefed' ? 'fedavg' : a));
    expect(await code([...fedavg, '--calibrate', '-o', out])).toBe('E_BAD_ARGUMENT'); // calibration without SphereFed
    expect(await code([...fedavg, '--base', 'fedprox', '-o', out])).toBe('E_BAD_ARGUMENT');
    expect(await code([...serveArgs, '--secure', '-o', out])).toBe('E_BAD_ARGUMENT'); // --secure without --calibrate
    expect(await code([...serveArgs, '--calibrate', '--lambda=-1', '-o', out])).toBe('E_BAD_ARGUMENT');
  }, 30_000);
});
