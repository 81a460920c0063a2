// The codec's predicted cost (codecMs): a channel reduction is priced as the convolutions it
// runs, for learned stages as for pca, so the planner does not take a learned reduce for free.
import { describe, expect, it } from 'vitest';
import { parseCompressSpec } from '../../../src/passes/bottleneck/index.js';
import { codecMs } from '../../../src/search/plan/plan-graph.js';
import type { PlanOptions } from '../../../src/search/plan/types.js';
import { devicePreset, linkPreset } from '../../../src/search/profiles/presets.js';

const opts: PlanOptions = { edge: devicePreset('phone-wasm')!, cloud: devicePreset('cloud-cpu')!, link: linkPreset('wifi')! };
// a [1, 32, 14, 14] float32 cut tensor and a wire of 392 B
const raw = 32 * 14 * 14 * 4;
const ms = (spec: string): number => codecMs(opts, parseCompressSpec(spec), raw, 392);

describe('codecMs', () => {
  it('prices learned=K like pca=K (the same 1×1 work), above the coder alone', () => {
    expect(ms('learned=8+int4')).toBe(ms('pca=8+int4'));
    expect(ms('learned=8+int4')).toBeGreaterThan(ms('int4'));
    expect(ms('learned=16+int4')).toBeGreaterThan(ms('learned=8+int4'));
  });

  it("prices learned=K/s2's 3×3 stride-2 reduce above the 1×1 one", () => {
    expect(ms('learned=8/s2+int4')).toBeGreaterThan(ms('learned=8+int4'));
    expect(ms('none')).toBe(0);
  });
});
