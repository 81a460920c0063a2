// Multi-tier chains and multi-input (multi-view) planning on real and synthetic models: the
// placement respects the data flow (tiers never decrease along an edge; a node runs on a
// device only if all its inputs come from that device), beats or equals every baseline, and
// moves with the link speeds as it should.
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/graph.js';
import { loadModelWithBytes } from '../../src/ir/serde/io.js';
import { planChain, planMultiInput } from '../../src/search/plan.js';
import type { DeviceProfile, LinkProfile } from '../../src/search/profiles/types.js';
import { modelSha256Of } from '../../src/search/profiles/predict.js';
import { devicePreset } from '../../src/search/profiles/presets.js';
import { fixtures } from '../helpers/fixtures.js';

const link = (name: string, mbps: number, rttMs: number): LinkProfile => ({ kind: 'link', schemaVersion: 1, name, uplinkMbps: mbps, downlinkMbps: mbps, rttMs, joulesPerMB: 1 });
const board = devicePreset('low-power-board')!;
const phone = devicePreset('phone-wasm')!;
const cloud = devicePreset('cloud-cpu')!;

function producersRespect(model: Model, place: Record<string, number>, ok: (producer: number, consumer: number) => boolean): void {
  for (const n of model.graph.nodes) {
    if (!(n.name in place)) continue;
    for (const v of n.dependencies()) {
      const p = v.producer();
      if (p && p.name in place) expect(ok(place[p.name]!, place[n.name]!), `${p.name} → ${n.name}`).toBe(true);
    }
  }
}

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

/** Two camera views, each through its own conv branch, fused by Concat and a head. */
function twoViewModel(): Model {
  const b = new GraphBuilder('two-view');
  const branch = (name: string, seed: number) => {
    let y = b.input(name, DataType.FLOAT, [1, 3, 64, 64]);
    let cin = 3;
    for (let i = 0; i < 4; i++) {
      const w = b.weight(`${name}.w${i}`, [16, cin, 3, 3], seed + i);
      y = b.op('Relu', [b.op('Conv', [y, w], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [i % 2 ? 2 : 1, i % 2 ? 2 : 1] })], {}, { name: `${name}.block${i}` });
      cin = 16;
    }
    return y;
  };
  const a = branch('left', 1);
  const c = branch('right', 10);
  const fused = b.op('Concat', [a, c], { axis: 1 }, { name: 'fuse' });
  const w = b.weight('head.w', [8, 32, 1, 1], 50);
  const out = b.op('GlobalAveragePool', [b.op('Conv', [fused, w], { kernel_shape: [1, 1] }, { name: 'head' })], {}, { name: 'pool' });
  b.output(out, { dtype: DataType.FLOAT, shape: [1, 8, 1, 1] });
  return b.model({ opset: 17 });
}

describe('planMultiInput (two views on two devices)', () => {
  const devices = (up: number) => ({
    left: { device: phone, link: link('left-link', up, 10) },
    right: { device: { ...board, name: 'board-2' } as DeviceProfile, link: link('right-link', up, 10) },
  });

  it('runs each branch only on its own device or the cloud, fuses in the cloud, and beats cloud-only', () => {
    const model = twoViewModel();
    const p = planMultiInput(model, { inputs: devices(2), cloud, compressOptions: ['int8'] });
    expect(p.exact).toBe(false); // latency = max over devices: the search is a heuristic there
    expect(p.devices.map((d) => d.inputs)).toEqual([['left'], ['right']]);
    expect(p.deviceOfNode.fuse).toBe(-1);
    expect(p.deviceOfNode.head).toBe(-1);
    for (const [name, dev] of Object.entries(p.deviceOfNode)) {
      if (name.startsWith('left.')) expect([0, -1]).toContain(dev);
      if (name.startsWith('right.')) expect([1, -1]).toContain(dev);
    }
    producersRespect(model, p.deviceOfNode, (a, b) => b === -1 || a === b);
    expect(p.cost).toBeLessThanOrEqual(p.cloudOnly + 1e-9);
    // at 2 Mbps the raw 48 kB views cost ~200 ms each; computing the branches on the devices wins
    expect(p.devices.every((d) => d.nodes > 0)).toBe(true);
  });

  it('is exact for the energy objective and sends everything raw over a very fast link', () => {
    const p = planMultiInput(twoViewModel(), { inputs: devices(2), cloud, objective: 'energy' });
    expect(p.exact).toBe(true);
    const fast = planMultiInput(twoViewModel(), { inputs: devices(1e5), cloud });
    expect(fast.devices.every((d) => d.nodes === 0)).toBe(true);
  });

  it('names inputs without a device', () => {
    expect(() => planMultiInput(twoViewModel(), { inputs: { left: devices(1).left }, cloud })).toThrow(/no device holds input right/);
  });
});
