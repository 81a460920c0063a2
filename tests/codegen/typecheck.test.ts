// The generated edge module type-checks under `tsc --strict`: its TypeScript source, and its
// declarations (index.d.ts + lib/*.d.ts) as a user project sees them, with a usage file
// that also asserts what must NOT compile (unknown output names, a missing endpoint).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/codegen/manifest.js';
import { fixtures, repoRoot } from '../helpers/fixtures.js';
import { buildFixtureBundle, firstResizeCut, middleCut, projectDir } from './helpers.js';

const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
const fx = fixtures();
const det = fx.find((f) => f.file.includes('det'))!;

function usageFile(m: Manifest): string {
  const inputs = m.signature.inputs
    .map((t) => `  ${JSON.stringify(t.name)}: { data: new Float32Array(${t.shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1)}), dims: ${JSON.stringify(t.shape)} },`)
    .join('\n');
  const out = m.signature.outputs[0]!.name;
  return `import createEdgeDefault, { BUNDLE, createEdge, type Edge, type EdgeInputs, type EdgeOutputs, type Tensor, type InferTimings } from './edge/index.js';

export async function main(): Promise<number> {
  const edge: Edge = await createEdge({ endpoint: 'http://127.0.0.1:8080', token: 'secret', numThreads: 1, executionProviders: ['wasm'], wasmPaths: '/ort/' });
  const inputs: EdgeInputs = {
${inputs}
  };
  const outputs: EdgeOutputs = await edge.infer(inputs);
  const first: Tensor = outputs[${JSON.stringify(out)}];
  const { timings }: { timings: InferTimings } = await edge.inferWithTimings(inputs);
  // @ts-expect-error only the model's outputs exist
  void outputs['not an output'];
  // @ts-expect-error the endpoint is required
  void createEdgeDefault({ token: 'x' });
  // @ts-expect-error every input must be given
  void edge.infer({});
  await edge.release();
  return first.dims.length + timings.edgeMs + BUNDLE.wire.length;
}
`;
}

function typecheck(dir: string, files: string[]): { ok: boolean; output: string } {
  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'ES2022',
        module: 'ES2022',
        moduleResolution: 'bundler',
        lib: ['ES2022', 'DOM'],
        types: [],
        skipLibCheck: false,
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true,
      },
      files,
    }),
  );
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.json')], { encoding: 'utf8', cwd: dir });
  return { ok: r.status === 0, output: r.stdout + r.stderr };
}

describe.each([
  { label: `${fx[0]!.file}, middle cut`, fx: fx[0]!, cut: middleCut },
  { label: `${det.file}, five-tensor cut`, fx: det, cut: firstResizeCut },
])('generated TypeScript for $label', ({ fx: f, cut }) => {
  it('type-checks under tsc --strict, from source and from the declarations', () => {
    const root = projectDir();
    const r = buildFixtureBundle(f, cut, path.join(root, 'src'));
    fs.writeFileSync(path.join(root, 'src', 'usage.ts'), usageFile(r.manifest));
    const fromSource = typecheck(path.join(root, 'src'), ['edge/index.ts', 'usage.ts']);
    expect(fromSource.output).toBe('');
    expect(fromSource.ok).toBe(true);

    // as an installed package: only the .js/.d.ts files
    fs.renameSync(path.join(root, 'src'), path.join(root, 'pkg'));
    fs.rmSync(path.join(root, 'pkg', 'edge', 'index.ts'));
    const fromDeclarations = typecheck(path.join(root, 'pkg'), ['usage.ts']);
    expect(fromDeclarations.output).toBe('');
    expect(fromDeclarations.ok).toBe(true);
  });
});
