// The calibration phase's rules without HTTP or training: who may upload what and when, and how
// an attempt closes (all in; at the deadline plain sums those in, secure reopens with them).
import { describe, expect, it } from 'vitest';
import { CalibrationPhase } from '../../../src/runtime/federated/calibration-phase.js';
import { calibrationStats, packedLength, packStats } from '../../../src/runtime/federated/calibration.js';
import { createMaskingKeys, maskVector } from '../../../src/runtime/federated/secure-agg.js';
import { codeOf } from '../../helpers/codes.js';

const dim = 2;
const classes = 2;
const n = packedLength(dim, classes);
const statsOf = (seed: number): Float64Array => packStats(calibrationStats(Float32Array.of(seed, 1, 2, seed), Int32Array.of(0, 1), 2, dim, classes));

function phase(secure: boolean) {
  const clock = { t: 0 };
  const p = new CalibrationPhase({ rounds: 5, dim, classes, secure, minClients: 2, deadlineMs: 1000, now: () => clock.t });
  return { p, clock };
}

describe('CalibrationPhase', () => {
  it('opens with enough eligible clients; refuses wrong rounds, strangers, duplicates, sizes, kinds and non-finite values', () => {
    const { p } = phase(false);
    expect(codeOf(() => p.submit('a', 6, statsOf(1)))).toBe('E_FED_ROUND'); // not open yet
    expect(p.tick(['a'])).toBeNull();
    expect(p.participants).toBeNull();
    p.tick(['a', 'b']);
    expect([p.round, p.participants]).toEqual([6, ['a', 'b']]);
    expect(codeOf(() => p.submit('a', 7, statsOf(1)))).toBe('E_FED_ROUND');
    expect(codeOf(() => p.submit('c', 6, statsOf(1)))).toBe('E_FED_ROUND');
    expect(codeOf(() => p.submit('a', 6, new Float64Array(n - 1)))).toBe('E_FED_UPDATE');
    expect(codeOf(() => p.submit('a', 6, new Uint8Array(8 + 8 * (n + 1))))).toBe('E_FED_UPDATE');
    expect(codeOf(() => p.submit('a', 6, new Float64Array(n).fill(NaN)))).toBe('E_FED_UPDATE');
    p.submit('a', 6, statsOf(1));
    expect(codeOf(() => p.submit('a', 6, statsOf(1)))).toBe('E_FED_ROUND');
    const closed = p.tick(['a', 'b']);
    expect(closed).toBeNull(); // b is not in, the deadline has not passed
    p.submit('b', 6, statsOf(2));
    expect(p.tick(['a', 'b'])?.record).toMatchObject({ round: 6, attempts: 1, clients: ['a', 'b'], closedBy: 'all-in', samples: 4 });
  });

  it('at the deadline: plain sums those in (with enough), secure reopens with them and fresh round numbers', async () => {
    const plain = phase(false);
    plain.p.tick(['a', 'b', 'c']);
    plain.p.submit('a', 6, statsOf(1));
    plain.clock.t = 1000;
    // one upload is fewer than minClients: a new attempt with every eligible client
    expect(plain.p.tick(['a', 'b', 'c'])).toBeNull();
    expect([plain.p.round, plain.p.participants, plain.p.uploads.size]).toEqual([7, ['a', 'b', 'c'], 0]);
    plain.p.submit('a', 7, statsOf(1));
    plain.p.submit('c', 7, statsOf(3));
    plain.clock.t = 2000;
    expect(plain.p.tick(['a', 'b', 'c'])?.record).toMatchObject({ round: 7, clients: ['a', 'c'], stragglers: ['b'], closedBy: 'deadline' });

    const secure = phase(true);
    const keys = await Promise.all(['a', 'b', 'c'].map(() => createMaskingKeys()));
    const peers = ['a', 'b', 'c'].map((id, k) => ({ id, publicKey: keys[k]!.publicKey }));
    secure.p.tick(['a', 'b', 'c']);
    expect(codeOf(() => secure.p.submit('a', 6, statsOf(1)))).toBe('E_FED_UPDATE'); // plain to a secure phase
    const masked = (k: number, round: number, set: typeof peers) => maskVector(statsOf(k + 1), { id: set[k]!.id, privateKey: keys[k]!.privateKey }, set, round, 'ctx');
    secure.p.submit('a', 6, await masked(0, 6, peers));
    secure.p.submit('b', 6, await masked(1, 6, peers));
    secure.clock.t = 1000;
    expect(secure.p.tick(['a', 'b', 'c'])).toBeNull();
    expect([secure.p.round, secure.p.participants]).toEqual([7, ['a', 'b']]);
    const left = peers.slice(0, 2);
    secure.p.submit('a', 7, await masked(0, 7, left));
    secure.p.submit('b', 7, await masked(1, 7, left));
    const done = secure.p.tick(['a', 'b', 'c'])!;
    expect(done.record).toMatchObject({ round: 7, attempts: 2, clients: ['a', 'b'], closedBy: 'all-in', samples: 4 });
    const want = statsOf(1).map((v, i) => v + statsOf(2)[i]!);
    const got = packStats(done.sum);
    for (let i = 0; i < n; i++) expect(got[i]!).toBeCloseTo(want[i]!, 6);
  });
});
