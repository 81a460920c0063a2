// The plan table: columns mean what their headers say.
import { describe, expect, it } from 'vitest';
import { loadModelWithBytes } from '../../src/ir/serde/io.js';
import { formatPlan } from '../../src/cli/plan.js';
import { planSplit } from '../../src/search/plan/split.js';
import { modelSha256Of } from '../../src/search/profiles/predict.js';
import { devicePreset, linkPreset } from '../../src/search/profiles/presets.js';
import { fixtures } from '../helpers/fixtures.js';

describe('formatPlan', () => {
  it("'cloud ms' is the cloud's compute and 'link ms' all the network costs, downlink included", async () => {
    const det = fixtures().find((f) => f.file.includes('det'))!;
    const { model, bytes } = loadModelWithBytes(det.path);
    const plan = await planSplit(model, { edge: devicePreset('phone-wasm')!, cloud: devicePreset('cloud-cpu')!, link: linkPreset('3g')!, inputShapes: det.inputShapes, modelSha256: modelSha256Of(bytes) });
    const c = plan.baselines.cloudOnly;
    expect(c.downlinkMs).toBeGreaterThan(c.cloudMs); // on 3g the results' way back dwarfs the compute
    const text = formatPlan(plan);
    const header = text.split('\n')[1]!;
    const row = text.split('\n').find((l) => /^\s*→?\s*cloud-only\s/.test(l))!;
    const cells = row.trim().replace(/^→\s*/, '').split(/\s{2,}/);
    const names = header.trim().split(/\s{2,}/);
    const cell = (name: string): number => Number(cells[names.indexOf(name)]);
    expect(cell('cloud ms')).toBeCloseTo(c.cloudMs, 1);
    expect(cell('link ms')).toBeCloseTo(c.uplinkMs + c.rttMs + c.downlinkMs, -1);
    expect(cell('total ms')).toBeCloseTo(c.totalMs, -1);
  });
});
