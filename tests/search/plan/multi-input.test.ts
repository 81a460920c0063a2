// Multi-input (multi-view) planning on a synthetic two-view model: a node runs on a device only
// if all its inputs come from that device, the plan beats cloud-only, and moves with the link speeds.
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Model } from '../../../src/ir/graph.js';
import { planMultiInput } from '../../../src/search/plan/multi-input.js';
import type { DeviceProfile } from '../../../src/search/profiles/types.js';
import { link, board, phone, cloud, producersRespect } from './devices.js';

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
