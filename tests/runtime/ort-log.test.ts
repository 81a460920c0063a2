// The runtime's sessions (served models on either thread, accuracy evaluation) log errors only
// by default: onnxruntime's warnings would otherwise land on the user's stderr.
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src/ir/serde/io.js';
import { tmpDir } from '../helpers/fixtures.js';
import { ortLogLines, runOrtLogChild, unusedInitializerModel } from '../helpers/ort-log.js';

describe('runtime sessions and onnxruntime warnings', () => {
  let file: string;
  beforeAll(() => {
    file = path.join(tmpDir(), 'unused.onnx');
    saveModel(unusedInitializerModel(), file);
  });

  it.each(['host-main', 'host-worker', 'evaluate-accuracy'])('%s prints no onnxruntime log line', (kind) => {
    const r = runOrtLogChild(kind, file);
    expect(r.stdout.trim()).toBe('ok');
    expect(ortLogLines(r.stderr)).toEqual([]);
  });
});
