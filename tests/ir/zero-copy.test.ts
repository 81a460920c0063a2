// Weights are views into the bytes the model was read from: reading a model never copies
// its tensors, and writing it back references them instead of copying.
import * as fs from 'node:fs';
import { expect, it } from 'vitest';
import { constantOf } from '../../src/ir/constants.js';
import { allNodes } from '../../src/ir/graph.js';
import { deserializeModel } from '../../src/ir/serde/read.js';
import { serializeModel } from '../../src/ir/serde/write.js';
import { MemoryStorage } from '../../src/ir/tensor.js';
import { fixtures } from '../helpers/fixtures.js';

it('tensors of a loaded model are views into the file buffer, and the writer references them', () => {
  const f = fixtures().find((x) => x.file.includes('rec'))!;
  const buf = new Uint8Array(fs.readFileSync(f.path));
  const m = deserializeModel(buf);
  let views = 0;
  let bytes = 0;
  for (const n of allNodes(m.graph)) {
    const t = n.opType === 'Constant' ? constantOf(n.outputs[0]) : null;
    if (!t || t.expectedByteLength < 4096) continue;
    expect(t.storage).toBeInstanceOf(MemoryStorage);
    expect((t.storage as MemoryStorage).bytes.buffer).toBe(buf.buffer);
    views++;
    bytes += t.expectedByteLength;
  }
  expect(views).toBeGreaterThan(40);
  // serializing references the same memory for every large tensor
  const s = serializeModel(m);
  const referenced = s.parts.filter((p) => p.buffer === buf.buffer).reduce((a, p) => a + p.byteLength, 0);
  expect(referenced).toBeGreaterThanOrEqual(bytes);
});
