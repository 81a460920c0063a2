// The coordinator's round state machine without HTTP: rounds open with minClients and close
// when every chosen client is in or at the deadline; stragglers, duplicates, unknown clients
// and bad updates get coded errors and change nothing; checkpoints resume bit for bit.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fedAvg } from '../../../src/runtime/federated/aggregate.js';
import { CHECKPOINT_FILE, Coordinator, type CoordinatorOptions } from '../../../src/runtime/federated/coordinator.js';
import type { ClientUpdate, Weights } from '../../../src/runtime/federated/types.js';
import { smallResNet } from '../../../src/runtime/train/models.js';
import { codeOf, codeOfAsync } from '../../helpers/codes.js';

const model = () => smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 });
const taskOptions = { batchSize: 8 };
const base: CoordinatorOptions = { rounds: 2, minClients: 2, deadlineMs: 1000, local: { epochs: 1, lr: 0.05, seed: 7 }, algorithm: 'fedavg', seed: 1 };

/** A deterministic fake update: the global weights shifted by a client- and round-dependent amount. */
function fakeUpdate(global: Weights, client: string, round: number, index: number, samples = 16): ClientUpdate {
  const weights: Weights = new Map();
  for (const [name, w] of global) weights.set(name, w.map((v, i) => v + 0.001 * (((i * 7 + index * 13 + round) % 11) - 5) * (name.includes('var') ? 0 : 1)));
  return { client, round, samples: samples + index * 8, loss: 1 / (round + index), weights };
}

const bytesOf = (w: Weights): Buffer => Buffer.concat([...w].map(([, v]) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)));

const dirs: string[] = [];
const tmpDir = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'splitc-coord-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('Coordinator', () => {
  it('opens a round at minClients, closes it when all chosen clients are in, with FedAvg of their updates', async () => {
    const c = Coordinator.create(model(), taskOptions, base);
    const a = c.register();
    expect(c.roundInfo()).toMatchObject({ round: 1, state: 'open', deadline: null, participants: null });
    const b = c.register('phone-b');
    expect([a, b]).toEqual([{ client: 'client-0', index: 0 }, { client: 'phone-b', index: 1 }]);
    expect(c.register('phone-b')).toEqual(b); // rejoining keeps the index
    const info = c.roundInfo();
    expect(info).toMatchObject({ round: 1, state: 'open', participants: ['client-0', 'phone-b'], local: { mu: 0 } });
    const g0 = c.globalWeights();
    const ua = fakeUpdate(g0, a.client, 1, 0);
    const ub = fakeUpdate(g0, b.client, 1, 1);
    expect(await c.submit(ua)).toEqual({ round: 1, closed: false });
    expect(await codeOfAsync(c.submit(ua))).toBe('E_FED_ROUND'); // duplicate
    expect(c.globalWeights()).toBe(g0);
    expect(await c.submit(ub)).toEqual({ round: 1, closed: true });
    expect(bytesOf(c.globalWeights()).equals(bytesOf(fedAvg([ua, ub])))).toBe(true);
    expect(c.roundInfo()).toMatchObject({ round: 2, completed: 1, state: 'open' });
    expect(c.status().history[0]).toMatchObject({ round: 1, clients: ['client-0', 'phone-b'], stragglers: [], samples: 16 + 24, closedBy: 'all-in' });
    const g1 = c.globalWeights();
    await c.submit(fakeUpdate(g1, a.client, 2, 0));
    await c.submit(fakeUpdate(g1, b.client, 2, 1));
    expect(c.roundInfo()).toMatchObject({ round: 2, completed: 2, state: 'done' });
    expect(await codeOfAsync(c.submit(fakeUpdate(g1, a.client, 3, 0)))).toBe('E_FED_ROUND');
  });

  it('hands each closed round, with the model of its weights, to onRoundClosed (fed serve evaluates it)', async () => {
    const closed: { round: number; clients: string[]; weights: Buffer }[] = [];
    const c = Coordinator.create(model(), taskOptions, {
      ...base,
      onRoundClosed: (r, m) => {
        const values = m.graph.valuesByName();
        const weights: Weights = new Map([...c.globalWeights()].map(([name]) => [name, values.get(name)!.constValue!.toTypedArray() as Float32Array]));
        closed.push({ round: r.round, clients: r.clients, weights: bytesOf(weights) });
      },
    });
    const [a, b] = [c.register(), c.register()];
    const expected: Buffer[] = [];
    for (const round of [1, 2]) {
      const g = c.globalWeights();
      const updates = [fakeUpdate(g, a.client, round, 0), fakeUpdate(g, b.client, round, 1)];
      for (const u of updates) await c.submit(u);
      expected.push(bytesOf(fedAvg(updates)));
    }
    expect(closed.map((r) => [r.round, r.clients])).toEqual([
      [1, ['client-0', 'client-1']],
      [2, ['client-0', 'client-1']],
    ]);
    expect(closed.map((r) => r.weights.equals(expected[r.round - 1]!))).toEqual([true, true]);
  });

  it('closes at the deadline with minClients; the straggler’s late update gets E_FED_ROUND and is not averaged in', async () => {
    let now = 1_000_000;
    const c = Coordinator.create(model(), taskOptions, { ...base, rounds: 3, now: () => now });
    for (const id of ['a', 'b', 'slow']) c.register(id);
    expect(c.roundInfo().deadline).toBe(1_000_000 + 1000);
    const g0 = c.globalWeights();
    const ua = fakeUpdate(g0, 'a', 1, 0);
    await c.submit(ua);
    now += 5000; // past the deadline with one update: fewer than minClients, the round keeps waiting
    expect(c.roundInfo()).toMatchObject({ round: 1, completed: 0 });
    const ub = fakeUpdate(g0, 'b', 1, 1);
    expect(await c.submit(ub)).toEqual({ round: 1, closed: true });
    expect(c.status().history[0]).toMatchObject({ clients: ['a', 'b'], stragglers: ['slow'], closedBy: 'deadline' });
    const averaged = bytesOf(c.globalWeights());
    expect(averaged.equals(bytesOf(fedAvg([ua, ub])))).toBe(true);
    expect(await codeOfAsync(c.submit(fakeUpdate(g0, 'slow', 1, 2)))).toBe('E_FED_ROUND');
    expect(bytesOf(c.globalWeights()).equals(averaged)).toBe(true);
    // at the deadline with two of three in, the next call closes round 2 (no third update needed)
    const g1 = c.globalWeights();
    await c.submit(fakeUpdate(g1, 'a', 2, 0));
    await c.submit(fakeUpdate(g1, 'slow', 2, 2));
    now += 1000;
    expect(c.roundInfo()).toMatchObject({ round: 3, completed: 2 });
  });

  it('rejects bad updates with E_FED_UPDATE and protocol misuse with E_FED_ROUND, changing nothing', async () => {
    const c = Coordinator.create(model(), taskOptions, { ...base, minClients: 1, clientsPerRound: 1, maxUpdateNorm: 1 });
    c.register('a');
    c.register('b');
    const [chosen] = c.roundInfo().participants!;
    const other = chosen === 'a' ? 'b' : 'a';
    const g0 = c.globalWeights();
    const before = bytesOf(g0);
    const good = fakeUpdate(g0, chosen!, 1, 0);
    const withTensor = (name: string, w: Float32Array): ClientUpdate => ({ ...good, weights: new Map([...good.weights, [name, w]]) });
    const [first, w0] = [...good.weights][0]!;
    const nan = w0.slice();
    nan[0] = NaN;
    const huge = w0.map((v) => v + 10);
    const missing = new Map(good.weights);
    missing.delete(first);
    const cases: [ClientUpdate, string][] = [
      [withTensor(first, nan), 'E_FED_UPDATE'],
      [withTensor(first, huge), 'E_FED_UPDATE'], // ‖Δ‖ > maxUpdateNorm
      [withTensor(first, w0.subarray(1)), 'E_FED_UPDATE'],
      [withTensor('extra', new Float32Array(1)), 'E_FED_UPDATE'],
      [{ ...good, weights: missing }, 'E_FED_UPDATE'],
      [{ ...good, samples: 0 }, 'E_FED_UPDATE'],
      [{ ...good, loss: Infinity }, 'E_FED_UPDATE'],
      [{ ...good, client: 'nobody' }, 'E_FED_ROUND'],
      [{ ...good, client: other }, 'E_FED_ROUND'], // not chosen
      [{ ...good, round: 0 }, 'E_FED_ROUND'],
      [{ ...good, round: 2 }, 'E_FED_ROUND'],
    ];
    for (const [u, code] of cases) expect(await codeOfAsync(c.submit(u))).toBe(code);
    expect(bytesOf(c.globalWeights()).equals(before)).toBe(true);
    expect(c.status()).toMatchObject({ completed: 0, submitted: [] });
    expect(codeOf(() => c.register('bad id with spaces'))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => Coordinator.create(model(), taskOptions, { ...base, clientsPerRound: 1 }))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => Coordinator.create(model(), taskOptions, { ...base, local: { ...base.local, mu: 0.1 } }))).toBe('E_BAD_ARGUMENT');
    expect(await c.submit(good)).toEqual({ round: 1, closed: true });
  });

  it('checkpoints after each round and resumes: the same final weights as an uninterrupted run, bit for bit', async () => {
    const drive = async (c: Coordinator, ids: string[]): Promise<void> => {
      for (const id of ids) c.register(id);
      while (c.roundInfo().state === 'open' && c.roundInfo().completed < 1) {
        const { round } = c.roundInfo();
        for (const [k, id] of ids.entries()) await c.submit(fakeUpdate(c.globalWeights(), id, round, k));
      }
    };
    const ids = ['a', 'b'];
    const opts = { ...base, rounds: 3 };
    // uninterrupted
    const whole = Coordinator.create(model(), taskOptions, opts);
    for (const id of ids) whole.register(id);
    for (let r = 1; r <= 3; r++) for (const [k, id] of ids.entries()) await whole.submit(fakeUpdate(whole.globalWeights(), id, r, k));
    expect(whole.roundInfo().state).toBe('done');
    // interrupted after round 1
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'user file');
    const first = Coordinator.create(model(), taskOptions, { ...opts, checkpointDir: dir });
    await drive(first, ids);
    expect(fs.readdirSync(dir).sort()).toEqual([CHECKPOINT_FILE, 'notes.txt']);
    const resumed = await Coordinator.resume(dir, model(), taskOptions, opts);
    expect(resumed.roundInfo()).toMatchObject({ round: 2, completed: 1, participants: ids });
    expect(resumed.register('b')).toEqual({ client: 'b', index: 1 });
    for (let r = 2; r <= 3; r++) for (const [k, id] of ids.entries()) await resumed.submit(fakeUpdate(resumed.globalWeights(), id, r, k));
    expect(resumed.status().history.map((h) => h.round)).toEqual([1, 2, 3]);
    expect(bytesOf(resumed.globalWeights()).equals(bytesOf(whole.globalWeights()))).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8')).toBe('user file');
    // a checkpoint of another task, or none, is refused with a code
    const otherTask = async () => Coordinator.resume(dir, smallResNet({ widths: [4, 4], classes: 3, size: 8, seed: 3 }), taskOptions, opts);
    expect(await codeOfAsync(otherTask)).toBe('E_FED_CHECKPOINT');
    expect(await codeOfAsync(Coordinator.resume(tmpDir(), model(), taskOptions, opts))).toBe('E_FED_CHECKPOINT');
    const good = JSON.parse(fs.readFileSync(path.join(dir, CHECKPOINT_FILE), 'utf8')) as Record<string, unknown>;
    for (const tampered of ['{', 'null', JSON.stringify({ ...good, version: 2 }), JSON.stringify({ ...good, clients: [{ client: 'a b', index: 0 }] }), JSON.stringify({ ...good, weights: {} })]) {
      const bad = tmpDir();
      fs.writeFileSync(path.join(bad, CHECKPOINT_FILE), tampered);
      expect(await codeOfAsync(Coordinator.resume(bad, model(), taskOptions, opts))).toBe('E_FED_CHECKPOINT');
    }
  });

  it('a checkpoint that cannot be written fails no client: status shows it, flush throws E_IO', async () => {
    const file = path.join(tmpDir(), 'not-a-dir');
    fs.writeFileSync(file, 'user file');
    const c = Coordinator.create(model(), taskOptions, { ...base, minClients: 1, checkpointDir: file });
    c.register('a');
    c.roundInfo();
    expect(await c.submit(fakeUpdate(c.globalWeights(), 'a', 1, 0))).toEqual({ round: 1, closed: true });
    expect(c.status().checkpointError).toBeTruthy();
    expect(await codeOfAsync(c.flush())).toBe('E_IO');
    expect(fs.readFileSync(file, 'utf8')).toBe('user file');
  });

  it('stores calibration statistics per round and client', () => {
    const c = Coordinator.create(model(), taskOptions, base);
    c.register('a');
    c.register('b');
    c.submitCalibration('a', 1, new Float64Array([1, 2, 3]));
    expect(codeOf(() => c.submitCalibration('a', 1, new Float64Array([1, 2, 3])))).toBe('E_FED_ROUND');
    expect(codeOf(() => c.submitCalibration('b', 1, new Float64Array([1, 2])))).toBe('E_FED_UPDATE');
    expect(codeOf(() => c.submitCalibration('b', 1, new Float64Array([1, NaN, 3])))).toBe('E_FED_UPDATE');
    expect(codeOf(() => c.submitCalibration('b', 9, new Float64Array([1, 2, 3])))).toBe('E_FED_ROUND');
    expect(codeOf(() => c.submitCalibration('zed', 1, new Float64Array([1, 2, 3])))).toBe('E_FED_ROUND');
    c.submitCalibration('b', 1, new Float64Array([4, 5, 6]));
    expect([...c.calibrationStats(1).keys()]).toEqual(['a', 'b']);
  });
});
