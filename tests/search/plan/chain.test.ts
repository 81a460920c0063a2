// Multi-tier chain planning on a real model: tiers never decrease along an edge, the plan beats
// or equals every single-tier baseline, and moves with the link speeds as it should.
import { describe, expect, it } from 'vitest';
import { loadModelWithBytes } from '../../../src/ir/serde/io.js';
import { planChain } from '../../../src/search/plan/chain.js';
import { modelSha256Of } from '../../../src/search/profiles/predict.js';
import { fixtures } from '../../helpers/fixtures.js';
import { link, board, phone, cloud, producersRespect } from './devices.js';

describe('planChain (sensor → phone → cloud)', () => {
  const rec = fixtures().find((f) => f.file.includes('rec'))!;
  const load = () => {
    const { model, bytes } = loadModelWithBytes(rec.path);
    return { model, sha: modelSha256Of(bytes) };
  };

  it('places nodes on non-decreasing tiers and beats every single-tier baseline', () => {
    const { model, sha } = load();
    const p = planChain(model, { devices: [board, phone, cloud], links: [link('ble', 2, 20), link('lte', 8, 50)], inputShapes: rec.inputShapes, modelSha256: sha, compressOptions: ['int8'] });
    expect(p.chosen.tiers.map((t) => t.device)).toEqual(['low-power-board', 'phone-wasm', 'cloud-cpu']);
    expect(p.chosen.tiers.reduce((a, t) => a + t.nodes, 0)).toBe(Object.keys(p.chosen.tierOfNode).length);
    producersRespect(model, p.chosen.tierOfNode, (a, b) => a <= b);
    for (const b of p.baselines) expect(p.chosen.totalMs).toBeLessThanOrEqual(b.totalMs + 1e-9);
    const parts = p.chosen.tiers.reduce((a, t) => a + t.computeMs, 0) + p.chosen.hops.reduce((a, h) => a + h.ms, 0);
    expect(parts).toBeGreaterThan(0);
  });

  it('keeps everything on the sensor behind a hopeless first link, and moves to the cloud behind fast ones', () => {
    const { model, sha } = load();
    const slow = planChain(model, { devices: [board, phone, cloud], links: [link('slow', 0.001, 1000), link('lte', 8, 50)], inputShapes: rec.inputShapes, modelSha256: sha });
    expect(slow.chosen.tiers[0]!.nodes).toBe(Object.keys(slow.chosen.tierOfNode).length);
    const { model: m2 } = load();
    const fast = planChain(m2, { devices: [board, phone, cloud], links: [link('fast', 1e5, 0.01), link('fast2', 1e5, 0.01)], inputShapes: rec.inputShapes, modelSha256: sha });
    expect(fast.chosen.tiers[2]!.nodes).toBe(Object.keys(fast.chosen.tierOfNode).length);
  });

  it('needs one link per hop', () => {
    const { model } = load();
    expect(() => planChain(model, { devices: [board, phone, cloud], links: [link('a', 1, 1)] })).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
  });
});
