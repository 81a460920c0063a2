// End to end on 127.0.0.1 in Node: the generated cloud/server.js runs as a child process
// (onnxruntime-node), the generated edge/index.js runs in another (onnxruntime-web, wasm)
// and talks to it with the KServe v2 binary protocol; the answer must match the original
// model run whole in onnxruntime-node (wasm and native kernels may differ in the last bits).

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures, repoRoot } from '../helpers/fixtures.js';
import { runOrt, seededFloatInputs } from '../helpers/onnx-oracle.js';
import { asFloat32, buildFixtureBundle, compareFloat, firstResizeCut, middleCut, projectDir, runEdgeInNode, startCloud, type CloudServer } from './helpers.js';

const fx = fixtures();
const det = fx.find((f) => f.file.includes('det'))!;
const TOKEN = 'e2e-secret-token';

describe.each([
  ...fx.map((f) => ({ label: `${f.file} (middle cut)`, fx: f, cut: middleCut })),
  { label: `${det.file} (five tensors after the first Resize)`, fx: det, cut: firstResizeCut },
])('split $label', ({ fx: f, cut }) => {
  let bundle: string;
  let tokenFile: string;
  let cloud: CloudServer;
  beforeAll(async () => {
    const root = projectDir();
    bundle = path.join(root, 'bundle');
    buildFixtureBundle(f, cut, bundle);
    tokenFile = path.join(root, 'token.txt');
    fs.writeFileSync(tokenFile, TOKEN + '\n');
    cloud = await startCloud(bundle, tokenFile);
  });
  afterAll(async () => {
    await cloud?.stop();
  });

  it('edge (onnxruntime-web) + cloud server reproduce the original outputs', async () => {
    const feeds = seededFloatInputs(f.inputShapes, 5);
    const ref = await runOrt(f.path, feeds);
    const { outputs, timings } = await runEdgeInNode(bundle, cloud.url, TOKEN, feeds);
    expect(Object.keys(outputs).sort()).toEqual(Object.keys(ref).sort());
    for (const [name, r] of Object.entries(ref)) {
      const got = outputs[name]!;
      expect(got.dtype).toBe(r.type);
      expect(got.dims).toEqual([...r.dims]);
      const c = compareFloat(asFloat32({ data: r.bytes! }), asFloat32(got), r.dims);
      expect(c.ok, `${name}: ${c.why}`).toBe(true);
    }
    expect(timings[0]!.edgeMs).toBeGreaterThan(0);
    expect(timings[0]!.cloudMs).toBeGreaterThan(0);
    // the server's own run time, from its Server-Timing header, is part of the cloud call
    expect(timings[0]!.cloudRunMs).toBeGreaterThan(0);
    expect(timings[0]!.cloudRunMs).toBeLessThan(timings[0]!.cloudMs);
  });

  it('is refused by the server with a wrong token (E_UNAUTHORIZED)', async () => {
    const feeds = seededFloatInputs(f.inputShapes, 5);
    await expect(runEdgeInNode(bundle, cloud.url, 'wrong-token', feeds)).rejects.toThrow(/E_UNAUTHORIZED/);
  });
});

describe('splitc serve <bundle>/cloud', () => {
  it('serves the cloud part to the generated edge module', async () => {
    const cls = fx[0]!;
    const root = projectDir();
    const bundle = path.join(root, 'bundle');
    buildFixtureBundle(cls, middleCut, bundle);
    const tokenFile = path.join(root, 'token.txt');
    fs.writeFileSync(tokenFile, TOKEN);
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/splitc.js'), 'serve', path.join(bundle, 'cloud'), '--port', '0', '--token-file', tokenFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /at (http:\/\/[^\s/]+)\/v2/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.once('exit', (code) => reject(new Error(`splitc serve exited with ${code}: ${out}${err}`)));
      });
      const feeds = seededFloatInputs(cls.inputShapes, 9);
      const ref = await runOrt(cls.path, feeds);
      const { outputs } = await runEdgeInNode(bundle, url, TOKEN, feeds);
      for (const [name, r] of Object.entries(ref)) {
        const c = compareFloat(asFloat32({ data: r.bytes! }), asFloat32(outputs[name]!), r.dims);
        expect(c.ok, `${name}: ${c.why}`).toBe(true);
      }
    } finally {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    }
  });
});
