// The generated edge module checks the cloud's answers against the outputs the bundle declares:
// a server answering the wrong datatype or leaving an output out fails the call with
// E_RESPONSE_MALFORMED (through the client in edge/lib/runtime), not with wrong tensors or an
// uncoded Error. The edge runs in a child process (onnxruntime-web); the "cloud" is a stub.

import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from '../helpers/fixtures.js';
import { seededFloatInputs } from '../helpers/onnx-oracle.js';
import { buildFixtureBundle, middleCut, projectDir, runEdgeInNode } from './helpers.js';

interface Spec {
  name: string;
  dtype: string;
  shape: (number | string | null)[];
}

const cls = fixtures()[0]!;
let bundle: string;
let cloudOutputs: Spec[];
let answer: (outputs: Spec[]) => unknown[] = () => [];
let server: http.Server;
let url: string;

beforeAll(async () => {
  bundle = path.join(projectDir(), 'bundle');
  buildFixtureBundle(cls, middleCut, bundle);
  cloudOutputs = (JSON.parse(fs.readFileSync(path.join(bundle, 'manifest.json'), 'utf8')) as { cloud: { outputs: Spec[] } }).cloud.outputs;
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ model_name: 'm', outputs: answer(cloudOutputs) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

/** The declared shape with symbolic dims at 1 (the batch the runner sends). */
const dimsOf = (s: Spec): number[] => s.shape.map((d) => (typeof d === 'number' ? d : 1));

describe('generated edge module: cloud answers checked against the bundle', () => {
  const cases: [string, (outputs: Spec[]) => unknown[], RegExp][] = [
    ['a missing output', () => [], /is missing/],
    [
      'INT64 data for a float output',
      (outputs) =>
        outputs.map((o) => {
          const dims = dimsOf(o);
          return { name: o.name, datatype: 'INT64', shape: dims, data: new Array(dims.reduce((a, b) => a * b, 1)).fill(0) };
        }),
      /datatype/,
    ],
  ];
  for (const [name, make, field] of cases) {
    it(`${name} → E_RESPONSE_MALFORMED`, async () => {
      expect(cloudOutputs.length).toBeGreaterThan(0);
      answer = make;
      const feeds = seededFloatInputs(cls.inputShapes, 5);
      const e = await runEdgeInNode(bundle, url, 'tok', feeds).then(
        () => undefined,
        (err: unknown) => err as Error,
      );
      expect(e).toBeInstanceOf(Error);
      expect(e!.message).toMatch(/E_RESPONSE_MALFORMED/);
      expect(e!.message).toMatch(field);
    });
  }
});
