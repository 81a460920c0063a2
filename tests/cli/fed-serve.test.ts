// `splitc fed serve` with two `splitc fed join` clients (in-process, on 127.0.0.1, a small
// synthetic IDX data set): two rounds, model.onnx and history.json written, both clients in
// every round, the model equal to `fed simulate`'s with the same flags; the same --checkpoint resumes after the last closed round, SIGTERM stops it
// cleanly with the checkpoint kept (in-process, and the real process built in dist/); bad flags get codes.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.js';
import { loadModel, modelToBytes } from '../../src/ir/serde/io.js';
import { CHECKPOINT_FILE } from '../../src/runtime/federated/coordinator.js';
import { smallResNet } from '../../src/runtime/train/models.js';
import { runSplitc } from '../helpers/cli.js';
import { syntheticFashion } from '../helpers/fed-data.js';
import { repoRoot, tmpDir } from '../helpers/fixtures.js';

const data = syntheticFashion(96, 10);
const work = tmpDir('splitc-fed-serve-');
const tokenFile = path.join(work, 'token.txt');
fs.writeFileSync(tokenFile, 'fed-cli-secret\n');
const serveArgs = ['fed', 'serve', '--arch', 'resnet8', '--widths', '4,8', '--min-clients', '2', '--local-epochs', '1', '--batch', '8', '--lr', '0.05', '--seed', '3', '--token-file', tokenFile, '--port', '0', '--linger-s', '0.3', '--json'];
const joinArgs = (url: string, k: number) => ['fed', 'join', url, '--token-file', tokenFile, '--data', 'fashion-mnist', '--data-dir', data, '--clients', '2', '--client-index', String(k), '--iid', '--seed', '3', '--json'];

/** `splitc …args` in this process; `listening` resolves with the URL fed serve prints first. */
function start(args: string[]): { done: Promise<{ code: number; lines: string[] }>; listening: Promise<{ listening: string; resumedRounds: number }> } {
  const lines: string[] = [];
  let heard: (v: { listening: string; resumedRounds: number }) => void;
  const listening = new Promise<{ listening: string; resumedRounds: number }>((r) => (heard = r));
  let stderr = '';
  const done = main(args, {
    stdout: (t) => {
      for (const line of t.split('\n').filter(Boolean)) {
        lines.push(line);
        const j = JSON.parse(line) as { listening?: string; resumedRounds: number };
        if (j.listening !== undefined) heard({ listening: j.listening, resumedRounds: j.resumedRounds });
      }
    },
    stderr: (t) => void (stderr += t),
  }).then((code) => {
    if (code !== 0) throw new Error(`splitc ${args.slice(0, 2).join(' ')} exited ${code}: ${lines.join('\n')} ${stderr}`);
    return { code, lines };
  });
  return { done, listening };
}

async function status(url: string): Promise<{ registered: number }> {
  const r = await fetch(`${url}/v2/federated/status`, { headers: { Authorization: 'Bearer fed-cli-secret' } });
  return (await r.json()) as { registered: number };
}

async function until(ok: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200 && !(await ok()); i++) await new Promise((r) => setTimeout(r, 25));
}

async function errorCode(args: string[]): Promise<string | undefined> {
  const r = await runSplitc([...args, '--json']);
  expect(r.code, r.stdout + r.stderr).toBe(2);
  return (JSON.parse(r.stdout) as { error: { code: string } }).error.code;
}

describe('splitc fed serve / fed join', () => {
  const checkpoint = path.join(work, 'checkpoint');

  it('a coordinator and two clients run two rounds; model.onnx and history.json are written', async () => {
    const out = path.join(work, 'run');
    const serve = start([...serveArgs, '--rounds', '2', '--checkpoint', checkpoint, '--eval-data', 'fashion-mnist', '--data-dir', data, '-o', out]);
    const { listening: url, resumedRounds } = await serve.listening;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(resumedRounds).toBe(0);
    // client 1 registers first: batch orders follow --client-index, not the registration order
    const second = start(joinArgs(url, 1)).done;
    await until(async () => (await status(url)).registered === 1);
    const joins = await Promise.all([start(joinArgs(url, 0)).done, second]);
    const served = await serve.done;

    const summary = JSON.parse(served.lines.at(-1)!) as { state: string; rounds: number; clients: string[]; files: Record<string, string> };
    expect(summary).toMatchObject({ state: 'done', rounds: 2, clients: ['client-0', 'client-1'] });
    expect(fs.readdirSync(out).sort()).toEqual(['history.json', 'model.onnx', 'report.html']);
    // the report: the coordinator's evaluation set, one accuracy point per round
    const report = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(report).toContain('<h1>splitc fed serve: fedavg on');
    expect(report).toContain('fashion-mnist: 10 test samples, on the coordinator');
    expect(/<svg[^>]*id="accuracy"[\s\S]*?<\/svg>/.exec(report)![0].match(/<circle/g)).toHaveLength(2);
    expect(loadModel(path.join(out, 'model.onnx')).graph.outputs.map((o) => o.name)).toEqual(['logits']);
    const h = JSON.parse(fs.readFileSync(path.join(out, 'history.json'), 'utf8'));
    expect(h.version).toBe(1);
    expect(h.config).toMatchObject({ algorithm: 'fedavg', mu: null, rounds: 2, minClients: 2, batch: 8, seed: 3 });
    expect(h.config.weightBytes).toBeGreaterThan(0);
    expect(h.rounds.map((r: { round: number; clients: string[]; stragglers: string[]; samples: number; closedBy: string }) => [r.round, r.clients, r.stragglers, r.samples, r.closedBy])).toEqual([
      [1, ['client-0', 'client-1'], [], 96, 'all-in'],
      [2, ['client-0', 'client-1'], [], 96, 'all-in'],
    ]);
    for (const r of h.rounds) {
      expect(r.seconds).toBeGreaterThan(0);
      expect(Number.isFinite(r.loss)).toBe(true);
    }
    // each client: its part of the IID partition, both rounds trained and accepted
    const clients = joins.map((j) => JSON.parse(j.lines.at(-1)!) as { client: string; samples: number; state: string; rounds: { round: number; accepted: boolean; bytesUp: number }[] });
    expect(clients.map((c) => [c.client, c.samples, c.state, c.rounds.map((r) => [r.round, r.accepted])])).toEqual([
      ['client-0', 48, 'done', [[1, true], [2, true]]],
      ['client-1', 48, 'done', [[1, true], [2, true]]],
    ]);
    expect(clients[0]!.rounds[0]!.bytesUp).toBeGreaterThan(h.config.weightBytes);
    expect(fs.existsSync(path.join(checkpoint, CHECKPOINT_FILE))).toBe(true);

    // the same run simulated: the same weights, bit for bit
    const simulated = path.join(work, 'simulated');
    const sim = await runSplitc(['fed', 'simulate', '--arch', 'resnet8', '--widths', '4,8', '--local-epochs', '1', '--batch', '8', '--lr', '0.05', '--seed', '3', '--data', 'fashion-mnist', '--data-dir', data, '--clients', '2', '--iid', '--rounds', '2', '-o', simulated]);
    expect(sim.code, sim.stderr).toBe(0);
    const weightsOf = (file: string): Map<string, string> => new Map([...loadModel(file).graph.initializers].map(([name, v]) => [name, Buffer.from(v.constValue!.bytes()).toString('base64')]));
    const [fromServe, fromSim] = [weightsOf(path.join(out, 'model.onnx')), weightsOf(path.join(simulated, 'model.onnx'))];
    expect(fromServe.size).toBeGreaterThan(0);
    expect(fromServe).toEqual(fromSim);
    // and the coordinator's evaluation (--eval-data) gives the simulation's test accuracies
    const simHistory = JSON.parse(fs.readFileSync(path.join(simulated, 'history.json'), 'utf8')) as { rounds: { testAccuracy: number }[]; finalTestAccuracy: number };
    expect(h.config.evaluation).toEqual({ data: 'fashion-mnist', testSamples: 10 });
    expect(h.rounds.map((r: { testAccuracy: number }) => r.testAccuracy)).toEqual(simHistory.rounds.map((r) => r.testAccuracy));
    expect(h.finalTestAccuracy).toBe(simHistory.finalTestAccuracy);
    expect(JSON.parse(served.lines.at(-1)!).finalTestAccuracy).toBe(simHistory.finalTestAccuracy);
  }, 40_000);

  it('the same --checkpoint resumes after the last closed round; SIGTERM stops it, checkpoint kept, exit 0, nothing written', async () => {
    expect(fs.existsSync(path.join(checkpoint, CHECKPOINT_FILE))).toBe(true);
    const before = fs.readFileSync(path.join(checkpoint, CHECKPOINT_FILE));
    const out = path.join(work, 'stopped');
    const listeners = process.listenerCount('SIGTERM');
    const serve = start([...serveArgs, '--rounds', '3', '--checkpoint', checkpoint, '-o', out]);
    expect((await serve.listening).resumedRounds).toBe(2);
    process.emit('SIGTERM');
    const { lines } = await serve.done;
    expect(JSON.parse(lines.at(-1)!)).toEqual({ state: 'stopped', completed: 2, checkpoint });
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readFileSync(path.join(checkpoint, CHECKPOINT_FILE)).equals(before)).toBe(true);
    expect(process.listenerCount('SIGTERM')).toBe(listeners);
  }, 20_000);

  it('on a terminal: the URL on stdout, one line per round on the progress stream, a text summary', async () => {
    const out = path.join(work, 'tty');
    const tty = { serve: '', join: '' };
    const text = { serve: '', join: '' };
    const io = (who: 'serve' | 'join', onLine?: (line: string) => void) => ({
      stdout: (t: string) => {
        text[who] += t;
        onLine?.(t);
      },
      stderr: () => {},
      progress: { isTTY: true, columns: 100, write: (t: string) => ((tty[who] += t), true) },
    });
    let heard: (url: string) => void;
    const listening = new Promise<string>((r) => (heard = r));
    const plain = serveArgs.filter((a) => a !== '--json');
    const serving = main([...plain, '--rounds', '1', '-o', out], io('serve', (t) => {
      const m = /coordinator at (http:\/\/\S+?)\/v2\/federated\//.exec(t);
      if (m) heard(m[1]!);
    }));
    const url = await listening;
    const joined = await Promise.all([0, 1].map((k) => main(joinArgs(url, k).filter((a) => a !== '--json'), k === 0 ? io('join') : { stdout: () => {}, stderr: () => {} })));
    expect([await serving, ...joined]).toEqual([0, 0, 0]);
    expect(tty.serve).toMatch(/round 1\/1: 2 clients, 96 samples, loss [\d.]+, [\d.]+ s/);
    expect(text.serve).toContain(`wrote ${path.join(out, 'model.onnx')}`);
    expect(tty.join).toMatch(/round 1: 48 samples, loss [\d.]+, accepted, [\d.]+ \w+ up/);
    expect(text.join).toMatch(/^client-0 \(48 samples\): trained 1 rounds \(1 accepted\); the federation is done/);
  }, 20_000);

  it('the real process: SIGTERM while it waits for clients stops it with exit 0', async () => {
    const dir = path.join(work, 'spawned-checkpoint');
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/splitc.js'), ...serveArgs, '--rounds', '1', '--checkpoint', dir, '-o', path.join(work, 'spawned')], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => void (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d;
        if (stdout.includes('"listening"')) resolve();
      });
      void exited.then(() => reject(new Error(`fed serve exited before listening: ${stderr}`)));
    });
    child.kill('SIGTERM');
    expect(await exited, stderr).toBe(0);
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ state: 'stopped', completed: 0, checkpoint: dir });
    expect(stderr).toContain('SIGTERM: stopping the coordinator');
  }, 20_000);

  it('bad flags exit non-zero with a code', async () => {
    const out = path.join(work, 'bad');
    const url = 'http://127.0.0.1:9';
    expect(await errorCode([...joinArgs(url, 2)])).toBe('E_BAD_ARGUMENT'); // index ≥ clients
    expect(await errorCode(joinArgs(url, 0).filter((a) => a !== '--iid'))).toBe('E_BAD_ARGUMENT'); // no partition
    expect(await errorCode(joinArgs('not a url', 0))).toBe('E_BAD_ARGUMENT');
    expect(await errorCode([...joinArgs(url, 0), '--data-dir', path.join(work, 'missing')])).toBe('E_IO');
    expect(await errorCode([...serveArgs, '--mu', '0.1', '-o', out])).toBe('E_BAD_ARGUMENT'); // μ with FedAvg
    expect(await errorCode([...serveArgs, '--clients-per-round', '1', '-o', out])).toBe('E_BAD_ARGUMENT'); // fewer than --min-clients
    expect(await errorCode([...serveArgs, '--rounds', '0', '-o', out])).toBe('E_BAD_ARGUMENT');
    expect(await errorCode([...serveArgs, '--test-limit', '5', '-o', out])).toBe('E_BAD_ARGUMENT'); // without --eval-data
    expect(await errorCode([...serveArgs, '--eval-data', 'fashion-mnist', '--data-dir', path.join(work, 'missing'), '-o', out])).toBe('E_IO');
    const small = path.join(work, 'small-8x8.onnx'); // takes 8×8 images, not Fashion-MNIST's 28×28
    fs.writeFileSync(small, modelToBytes(smallResNet({ widths: [4, 8], classes: 10, size: 8, seed: 1 })));
    expect(await errorCode(['fed', 'serve', small, '--token-file', tokenFile, '--port', '0', '--eval-data', 'fashion-mnist', '--data-dir', data, '-o', out])).toBe('E_BAD_ARGUMENT');
    expect(await errorCode([...serveArgs, '--token-file', path.join(work, 'missing.txt'), '-o', out])).toBe('E_IO');
    expect(await errorCode([...serveArgs, '--checkpoint', tokenFile, '-o', out])).toBe('E_BAD_ARGUMENT'); // a file, not a folder
    const tampered = path.join(work, 'tampered');
    fs.mkdirSync(tampered);
    fs.writeFileSync(path.join(tampered, CHECKPOINT_FILE), '{"format": "something else"}');
    expect(await errorCode([...serveArgs, '--checkpoint', tampered, '-o', out])).toBe('E_FED_CHECKPOINT');
    expect(fs.existsSync(out)).toBe(false);
  }, 20_000);
});
