// The federated client is meant to run in browser pages: what client.ts loads at run time
// (type-only imports are erased) must need nothing of Node, onnxruntime or the passes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot } from '../../helpers/fixtures.js';

it("client.ts's run-time import closure is platform-neutral (no node: modules, no onnxruntime, no coordinator or server)", () => {
  const seen = new Set<string>();
  const outside: string[] = [];
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/^\s*(import|export)(\s+type\b)?[^'"]*from\s+['"]([^'"]+)['"]/gm)) {
      if (m[2]) continue; // `import type` / `export type`: erased
      const spec = m[3]!;
      if (!spec.startsWith('.')) outside.push(`${path.relative(repoRoot, file)} imports ${spec}`);
      else visit(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')));
    }
  };
  visit(path.join(repoRoot, 'src/runtime/federated/client.ts'));
  expect(outside).toEqual([]);
  const files = [...seen].map((f) => path.relative(path.join(repoRoot, 'src'), f)).sort();
  expect(files.every((f) => f.startsWith('ir/') || f.startsWith('runtime/'))).toBe(true);
  expect(files).toContain('runtime/federated/wire.ts');
  expect(files).toContain('runtime/federated/local.ts');
  expect(files.filter((f) => f.includes('coordinator') || f.includes('server') || f.includes('task.ts'))).toEqual([]);
});
