// onnxruntime logs errors only in the sessions splitc creates, unless a caller asks otherwise:
// its warnings would otherwise land on the user's stderr (even under --json).
import * as path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { saveModel } from '../../src/ir/serde/io.js';
import { ORT_LOG_ERRORS_ONLY, withOrtErrorsOnly } from '../../src/search/ort-log.js';
import { tmpDir } from '../helpers/fixtures.js';
import { ortLogLines, runOrtLogChild, unusedInitializerModel } from '../helpers/ort-log.js';

describe('onnxruntime log severity', () => {
  it('defaults to errors only and keeps a level the caller chose', () => {
    expect(ORT_LOG_ERRORS_ONLY).toBe(3);
    const threads: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1 };
    expect(withOrtErrorsOnly(threads)).toEqual({ intraOpNumThreads: 1, logSeverityLevel: 3 });
    expect(threads).toEqual({ intraOpNumThreads: 1 }); // not mutated
    const verbose: ort.InferenceSession.SessionOptions = { logSeverityLevel: 0 };
    expect(withOrtErrorsOnly(verbose)).toEqual({ logSeverityLevel: 0 });
    const unset: ort.InferenceSession.SessionOptions = { logSeverityLevel: undefined };
    expect(withOrtErrorsOnly(unset).logSeverityLevel).toBe(3);
  });

  it('the calibration/fidelity session does not print onnxruntime warnings', () => {
    const file = path.join(tmpDir(), 'unused.onnx');
    saveModel(unusedInitializerModel(), file);
    const r = runOrtLogChild('calibrate-session', file);
    expect(r.stdout.trim()).toBe('ok');
    expect(ortLogLines(r.stderr)).toEqual([]);
  });
});
