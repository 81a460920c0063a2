// `splitc plan` and `splitc build` through the CLI: the table, plan.json + plan.html, the bundle
// of the chosen cut, and coded errors (exit 2) for bad profiles, sizes and plans. In-process runs,
// but for the first plan, build and profile: the real process (nothing on its stderr).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSplitc as run, spawnSplitc } from '../helpers/cli.js';
import { fixtures, tmpDir } from '../helpers/fixtures.js';

describe('splitc plan / build', () => {
  const cls = fixtures()[0]!;

  it('plans, writes plan.json and a self-contained plan.html, and builds the chosen cut', async () => {
    const dir = tmpDir();
    const linkFile = path.join(dir, 'link.json');
    fs.writeFileSync(linkFile, JSON.stringify({ kind: 'link', schemaVersion: 1, name: 'thirty', uplinkMbps: 30, downlinkMbps: 30, rttMs: 10 }));
    const planFile = path.join(dir, 'plan.json');
    const r = spawnSplitc(['plan', cls.path, '--edge', 'phone-wasm', '--link', linkFile, '--shape', 'x=1x3x48x192', '-o', planFile]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^plan for .*edge phone-wasm, link thirty \(30 Mbps up, 10 ms RTT\), cloud cloud-cpu; objective latency/);
    expect(r.stdout).toMatch(/^→ +split /m);
    expect(r.stdout).toMatch(/^ +cloud-only /m);
    expect(r.stdout).toMatch(/^ +edge-only /m);
    const plan = JSON.parse(fs.readFileSync(planFile, 'utf8'));
    expect(plan).toMatchObject({ kind: 'splitc-plan', schemaVersion: 2, chosen: { kind: 'split', compress: 'none' } });
    const html = fs.readFileSync(path.join(dir, 'plan.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|https?:\/\//); // no scripts, nothing fetched

    const out = path.join(dir, 'bundle');
    // real inputs for the bundle's audit: without them build would warn W_AUDIT_SKIPPED
    const b = spawnSplitc(['build', planFile, '--probe', 'fixtures/images', '--preprocess', 'paddleocr-cls', '-o', out]);
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest.audit).toMatchObject({ report: 'report/report.json', attack: 'whitebox', probes: { count: 2 } });
    expect(['high', 'medium', 'low']).toContain(manifest.audit.risk);
    expect(b.stdout).toMatch(/^inversion risk: (high|medium|low) \(whitebox attack/m);
    expect([...manifest.cut.tensors].sort()).toEqual([...plan.chosen.cutTensors].sort());
    expect(manifest.bytesPerSample.wire).toBe(plan.chosen.bytesPerSample);
  });

  it('profiles this machine and plans with the measured profile (its node table matches the model)', async () => {
    const dir = tmpDir();
    const prof = path.join(dir, 'here.json');
    const p = spawnSplitc(['profile', cls.path, '--shape', 'x=1x3x48x192', '--warmup', '1', '--repeats', '3', '-o', prof, '--json']);
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    const summary = JSON.parse(p.stdout);
    // 221 nodes besides Constants, one of them a Cast of a constant (folded at load, not timed)
    expect(summary.models[0].nodes).toBe(220);
    const profile = JSON.parse(fs.readFileSync(prof, 'utf8'));
    expect(profile).toMatchObject({ kind: 'device', schemaVersion: 1, name: 'this-machine-node-1t' });
    expect(Object.keys(profile.latency.measured[0].nodesMs)).toHaveLength(220);
    const r = await run(['plan', cls.path, '--edge', prof, '--link', 'wifi', '--cloud', prof, '--shape', 'x=1x3x48x192', '-o', path.join(dir, 'plan.json'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout);
    // same device on both sides and a slow link: nothing is worth sending
    expect(plan.chosen.kind).toBe('edge-only');
    const measuredSum = Object.values(profile.latency.measured[0].nodesMs as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(plan.baselines.edgeOnly.edgeMs).toBeCloseTo(measuredSum + profile.latency.runOverheadMs, 6);
  });

  it('plans a three-tier chain with --via and one --link per hop', async () => {
    const rec = fixtures().find((f) => f.file.includes('rec'))!;
    const out = path.join(tmpDir(), 'chain.json');
    const r = await run(['plan', rec.path, '--edge', 'low-power-board', '--via', 'phone-wasm', '--link', 'wifi', '--link', 'lte', '--shape', 'x=1x3x48x320', '-o', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^chain plan for /);
    expect(r.stdout).toMatch(/^0 +low-power-board /m);
    expect(r.stdout).toMatch(/^2 +cloud-cpu /m);
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toMatchObject({ kind: 'splitc-chain-plan', chosen: { tiers: [{ device: 'low-power-board' }, { device: 'phone-wasm' }, { device: 'cloud-cpu' }] } });
    const bad = await run(['plan', rec.path, '--edge', 'low-power-board', '--via', 'phone-wasm', '--link', 'wifi', '-o', out]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error E_BAD_ARGUMENT: a chain of 3 devices needs 2 links/);
  });

  it('gives coded errors for unknown presets, bad sizes, impossible constraints and bad plans', async () => {
    const dir = tmpDir();
    const cases: [string[], RegExp][] = [
      [['plan', cls.path, '--edge', 'toaster', '--link', 'lte', '-o', path.join(dir, 'a.json')], /^error E_PROFILE: .*toaster/],
      [['plan', cls.path, '--edge', 'phone-wasm', '--link', 'lte', '--max-bytes', 'lots', '-o', path.join(dir, 'b.json')], /^error E_BAD_ARGUMENT: --max-bytes 'lots' is not a size/],
      [['plan', cls.path, '--edge', 'phone-wasm', '--link', 'lte', '--max-bytes', '10', '--max-edge-memory', '1kB', '-o', path.join(dir, 'c.json')], /^error E_CONSTRAINT: /],
      [['build', cls.path, '-o', path.join(dir, 'x')], /^error E_PLAN: /],
    ];
    for (const [args, re] of cases) {
      const r = await run(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(re);
    }
    expect(fs.readdirSync(dir)).toEqual([]); // nothing half-written
  });
});
