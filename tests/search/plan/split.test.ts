// Planning on the real fixtures: the choice moves from cloud-only (fast link, slow edge) to a
// real split to edge-only (very slow link) as the cost model says it should; constraints are
// respected or fail with E_CONSTRAINT naming them; predicted bytes equal the built bundle's;
// the plan is deterministic.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModelWithBytes } from '../../../src/ir/serde/io.js';
import { splitModel } from '../../../src/passes/cut.js';
import { estimateWireBytes, parseCompressSpec } from '../../../src/passes/bottleneck/index.js';
import { gainSummary, planSplit } from '../../../src/search/plan/split.js';
import type { PlanOptions } from '../../../src/search/plan/types.js';
import { SplitcError } from '../../../src/ir/errors.js';
import type { DeviceProfile, LinkProfile } from '../../../src/search/profiles/types.js';
import { modelSha256Of } from '../../../src/search/profiles/predict.js';
import { devicePreset, linkPreset } from '../../../src/search/profiles/presets.js';
import { fixtures } from '../../helpers/fixtures.js';

const phone = devicePreset('phone-wasm')!;
const slowEdge: DeviceProfile = { ...phone, name: 'slow-edge', latency: { ...phone.latency, slowdown: 10 } };
const cloud = devicePreset('cloud-cpu')!;
const link = (mbps: number, rttMs: number): LinkProfile => ({ ...linkPreset('wifi')!, name: `${mbps} Mbps`, uplinkMbps: mbps, downlinkMbps: mbps, rttMs });
const OPTIONS = ['none', 'int8', 'pca=8+int4'];

async function plan(file: string, shapes: Record<string, number[]>, opts: Partial<PlanOptions>) {
  const { model, bytes } = loadModelWithBytes(file);
  const p = await planSplit(model, { edge: phone, cloud, link: link(30, 10), inputShapes: shapes, modelSha256: modelSha256Of(bytes), compressOptions: OPTIONS, ...opts }, { file });
  return { p, model };
}

describe.each(fixtures().map((f) => [f.file, f] as const))('plan %s', (_name, f) => {
  it('is cloud-only with a very fast link and a slow edge', async () => {
    const { p } = await plan(f.path, f.inputShapes, { edge: slowEdge, link: link(100_000, 0.05) });
    expect(p.chosen.kind).toBe('cloud-only');
    expect(p.exact).toBe(true);
  });

  it('is edge-only (or a deep cut with strong compression) with a very slow link', async () => {
    const { p } = await plan(f.path, f.inputShapes, { link: link(0.01, 500) });
    if (p.chosen.kind === 'split') {
      expect(p.chosen.compress).not.toBe('none');
      expect(p.chosen.edgeNodes).toBeGreaterThan(p.chosen.cloudNodes);
    } else expect(p.chosen.kind).toBe('edge-only');
  });

  it('is a real split in between (30 Mbps), better than both baselines, with consistent figures', async () => {
    const { p, model } = await plan(f.path, f.inputShapes, {});
    expect(p.chosen.kind).toBe('split');
    expect(p.gainOverBestBaseline).toBeGreaterThan(1);
    const c = p.chosen;
    expect(c.totalMs).toBeCloseTo(c.edgeMs + c.uplinkMs + c.rttMs + c.cloudMs + c.downlinkMs, 9);
    // the cut really splits the model, and the predicted bytes are those of the compression
    const split = splitModel(model, c.cutTensors);
    expect(split.cutTensors.length).toBeGreaterThan(0);
    const spec = parseCompressSpec(c.compress);
    let bytes = 0;
    for (const name of split.cutTensors) {
      const v = split.edge.graph.outputs.find((o) => o.name === name)!;
      bytes += estimateWireBytes(spec, v.tensorType!.dtype, v.tensorType!.shape!.map((d) => (typeof d === 'number' ? d : 1)))!;
    }
    expect(c.bytesPerSample).toBe(bytes);
    // a lossy choice without a fidelity bound says so
    if (c.compress !== 'none') expect(p.warnings.join('\n')).toMatch(/without a fidelity bound/);
    // every Pareto point is a candidate and none dominates another
    for (const a of p.pareto) expect(p.candidates).toContain(a);
  });
});

describe('plan constraints', () => {
  const cls = fixtures()[0]!;

  it('respects max bytes and edge memory, and names them when they cannot be met together', async () => {
    const free = await plan(cls.path, cls.inputShapes, { compressOptions: ['none'], link: link(1000, 1) });
    const cap = 20_000;
    const limited = await plan(cls.path, cls.inputShapes, { compressOptions: ['none'], link: link(1000, 1), constraints: { maxBytesPerSample: cap } });
    expect(limited.p.chosen.bytesPerSample).toBeLessThanOrEqual(cap);
    expect(free.p.chosen.bytesPerSample).toBeGreaterThan(cap); // the constraint changed the answer
    expect(limited.p.exact).toBe(false);
    const mem = 300_000;
    const both = await plan(cls.path, cls.inputShapes, { compressOptions: ['none'], link: link(1000, 1), constraints: { maxBytesPerSample: cap, maxEdgeMemoryBytes: mem } });
    expect(both.p.chosen.bytesPerSample).toBeLessThanOrEqual(cap);
    expect(both.p.chosen.edgeMemoryBytes).toBeLessThanOrEqual(mem);
    await expect(plan(cls.path, cls.inputShapes, { compressOptions: ['none'], constraints: { maxBytesPerSample: 100, maxEdgeMemoryBytes: 1000 } })).rejects.toMatchObject({
      code: 'E_CONSTRAINT',
      message: expect.stringMatching(/max edge memory 1000 B.*max bytes per sample 100/),
    });
  });

  it('uses the risk table: cuts missing from it or above the bound are not chosen', async () => {
    await expect(plan(cls.path, cls.inputShapes, { constraints: { maxRisk: 0.5 } })).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    const base = await plan(cls.path, cls.inputShapes, { compressOptions: ['none'] });
    expect(base.p.chosen.kind).toBe('split');
    const risky = await plan(cls.path, cls.inputShapes, { compressOptions: ['none'], riskTable: [{ tensors: base.p.chosen.cutTensors, risk: 0.9 }], constraints: { maxRisk: 0.5 } });
    expect(risky.p.chosen.cutTensors).not.toEqual(base.p.chosen.cutTensors);
    expect(risky.p.chosen.kind).toBe('edge-only'); // nothing else is in the table
  });

  it('measures agreement for lossy candidates until one meets the bound', async () => {
    const asked: string[] = [];
    const r = await plan(cls.path, cls.inputShapes, {
      link: link(3, 10),
      constraints: { minAgreement: 0.99 },
      measureAgreement: async (_cut, compress) => {
        asked.push(compress);
        return compress.startsWith('pca') ? 0.9 : 0.995;
      },
    });
    expect(asked.length).toBeGreaterThan(0);
    expect(r.p.chosen.compress).not.toMatch(/^pca/);
    if (r.p.chosen.compress !== 'none') expect(r.p.chosen.agreement).toBe(0.995);
  });

  it('a candidate that cannot be built or measured is infeasible with its reason, never fatal', async () => {
    const r = await plan(cls.path, cls.inputShapes, {
      link: link(3, 10),
      constraints: { minAgreement: 0.99 },
      measureAgreement: async (cut, compress) => {
        if (compress.startsWith('pca')) throw new SplitcError('E_COMPRESS', `pca reduces none of the cut tensors ('${cut[0]}')`);
        return 0.995;
      },
    });
    const bad = r.p.candidates.filter((c) => c.infeasible !== undefined);
    expect(bad.length).toBeGreaterThan(0);
    for (const c of bad) {
      expect(c.compress).toMatch(/^pca/);
      expect(c.infeasible).toMatch(/^E_COMPRESS: /);
      expect(c.violates).toContain('infeasible');
    }
    expect(r.p.chosen.infeasible).toBeUndefined();
    expect(r.p.warnings.join('\n')).toMatch(/could not be built or measured/);
    // internal bugs still surface
    await expect(plan(cls.path, cls.inputShapes, { link: link(3, 10), constraints: { minAgreement: 0.99 }, measureAgreement: async () => { throw new TypeError('bug'); } })).rejects.toThrow(TypeError);
  });

  it('compares with the better baseline that meets the constraints, and says which', async () => {
    // a slow link makes edge-only the unconstrained optimum; the memory cap rules it out
    const free = await plan(cls.path, cls.inputShapes, { compressOptions: ['none'], link: link(0.05, 200) });
    expect(free.p.chosen.kind).toBe('edge-only');
    expect(free.p.gainBaseline).toBe('cloud-only');
    expect(free.p.gainOverBestBaseline).toBeCloseTo(free.p.baselines.cloudOnly.totalMs / free.p.chosen.totalMs, 9);
    expect(gainSummary(free.p)).toMatch(/^\d+\.\d\d× faster than cloud-only$/);
    const cap = free.p.baselines.edgeOnly.edgeMemoryBytes - 1;
    const capped = await plan(cls.path, cls.inputShapes, { compressOptions: ['none'], link: link(0.05, 200), constraints: { maxEdgeMemoryBytes: cap } });
    expect(capped.p.baselines.edgeOnly.violates).toContain('max-edge-memory');
    expect(capped.p.chosen.kind).not.toBe('edge-only');
    if (capped.p.chosen.kind === 'split') {
      expect(capped.p.gainBaseline).toBe('cloud-only');
      expect(capped.p.gainOverBestBaseline).toBeCloseTo(capped.p.baselines.cloudOnly.totalMs / capped.p.chosen.totalMs, 9);
    } else {
      expect(capped.p.gainOverBestBaseline).toBeNull(); // cloud-only chosen, edge-only infeasible
    }
    expect(gainSummary(capped.p)).toMatch(/edge-only breaks max-edge-memory/);
    // the optimum it could not take is named with its unit
    expect(capped.p.warnings.join('\n')).toMatch(/unconstrained optimum \(edge-only, [\d.]+ ms\) breaks max-edge-memory/);
  });

  it('finds multi-tensor cuts on the detector and gives the same plan twice', async () => {
    const det = fixtures().find((f) => f.file.includes('det'))!;
    const a = await plan(det.path, det.inputShapes, { compressOptions: ['none'], link: link(10_000, 0.5) });
    expect(a.p.candidates.some((c) => c.kind === 'split' && c.cutTensors.length > 1)).toBe(true);
    const b = await plan(det.path, det.inputShapes, { compressOptions: ['none'], link: link(10_000, 0.5) });
    expect(JSON.stringify(b.p)).toBe(JSON.stringify(a.p));
    expect(fs.existsSync(det.path)).toBe(true);
  });
});

describe('plan for edge energy', () => {
  const cls = fixtures()[0]!;
  const withEnergy = (joulesPerGMac: number): DeviceProfile => ({ ...phone, name: 'battery', energy: { joulesPerGMac, idleWatts: 0.01 } });

  it('keeps compute on the edge when sending is dear and sends everything when computing is', async () => {
    const dearLink: LinkProfile = { ...link(30, 10), joulesPerMB: 100 };
    const a = await plan(cls.path, cls.inputShapes, { objective: 'energy', edge: withEnergy(0.001), link: dearLink, compressOptions: ['none'] });
    expect(a.p.objective).toBe('energy');
    expect(a.p.chosen.kind).toBe('edge-only');
    const cheapLink: LinkProfile = { ...link(30, 10), joulesPerMB: 0.001 };
    const b = await plan(cls.path, cls.inputShapes, { objective: 'energy', edge: withEnergy(100), link: cheapLink, compressOptions: ['none'] });
    // cloud-only, or a cut after MAC-free nodes (free on the edge under this model), never more
    expect(b.p.chosen.kind).not.toBe('edge-only');
    expect(b.p.chosen.edgeEnergyJ).toBeLessThanOrEqual(b.p.baselines.cloudOnly.edgeEnergyJ! + 1e-12);
    expect(b.p.chosen.edgeEnergyJ).toBeLessThan(b.p.baselines.edgeOnly.edgeEnergyJ! / 100);
  });
});
