import { describe, expect, it } from 'vitest';
import { SplitcError } from '../../../src/ir/errors.js';
import { DataType } from '../../../src/ir/dtype.js';
import { estimateWireBytes } from '../../../src/passes/bottleneck/compress.js';
import { formatCompressSpec, parseCompressSpec, specChannelAxis, specNeeds } from '../../../src/passes/bottleneck/spec.js';

function errorOf(text: string): SplitcError {
  try {
    parseCompressSpec(text);
  } catch (e) {
    if (e instanceof SplitcError) return e;
    throw e;
  }
  throw new Error(`'${text}' parsed`);
}

describe('compression spec grammar', () => {
  it.each([
    ['none', 'none', []],
    ['', 'none', []],
    ['fp16', 'fp16', [{ kind: 'fp16' }]],
    ['int8', 'int8', [{ kind: 'quant', bits: 8, range: { kind: 'minmax' } }]],
    ['int4:channel', 'int4:channel', [{ kind: 'quant', bits: 4, granularity: 'channel', range: { kind: 'minmax' } }]],
    ['int8:percentile=99.99', 'int8:percentile=99.99', [{ kind: 'quant', bits: 8, range: { kind: 'percentile', percentile: 99.99 } }]],
    ['int8:percentile=100', 'int8', [{ kind: 'quant', bits: 8, range: { kind: 'minmax' } }]],
    ['int2:channel:axis=-1', 'int2:channel:axis=-1', [{ kind: 'quant', bits: 2, granularity: 'channel', axis: -1, range: { kind: 'minmax' } }]],
    ['pca=16', 'pca=16', [{ kind: 'pca', k: 16 }]],
    [
      ' pca=16 + int4 ',
      'pca=16+int4',
      [
        { kind: 'pca', k: 16 },
        { kind: 'quant', bits: 4, range: { kind: 'minmax' } },
      ],
    ],
    ['pca=8:axis=1+fp16', 'pca=8:axis=1+fp16', [{ kind: 'pca', k: 8, axis: 1 }, { kind: 'fp16' }]],
    [
      'pca=8+int4:tensor:percentile=99.9',
      'pca=8+int4:tensor:percentile=99.9',
      [
        { kind: 'pca', k: 8 },
        { kind: 'quant', bits: 4, granularity: 'tensor', range: { kind: 'percentile', percentile: 99.9 } },
      ],
    ],
    ['learned=8+int4', 'learned=8+int4', [{ kind: 'learned', k: 8, stride: 1 }, { kind: 'quant', bits: 4, range: { kind: 'minmax' } }]],
    ['learned=8/s2 + int4', 'learned=8/s2+int4', [{ kind: 'learned', k: 8, stride: 2 }, { kind: 'quant', bits: 4, range: { kind: 'minmax' } }]],
    ['learned=4:axis=-1', 'learned=4:axis=-1', [{ kind: 'learned', k: 4, stride: 1, axis: -1 }]],
    ['noise=0.5+learned=4/s2:axis=1+fp16', 'noise=0.5+learned=4/s2:axis=1+fp16', [{ kind: 'noise', sigma: 0.5 }, { kind: 'learned', k: 4, stride: 2, axis: 1 }, { kind: 'fp16' }]],
  ])('%j parses and prints back as %j', (text, canonical, stages) => {
    const spec = parseCompressSpec(text);
    expect(spec.stages).toEqual(stages);
    expect(formatCompressSpec(spec)).toBe(canonical);
    expect(parseCompressSpec(formatCompressSpec(spec))).toEqual(spec);
  });

  it.each([
    ['int3', /not supported/],
    ['int16', /not supported/],
    ['int8:percentile=40', /percentile/],
    ['int8:percentile=abc', /percentile/],
    ['int8:perchannel', /unknown option/],
    ['pca=0', /positive/],
    ['pca=x', /positive/],
    ['pca=4:k=3', /unknown pca option/],
    ['int8+pca=4', /pca must come first/],
    ['pca=4+pca=2', /pca must come first/],
    ['int8+int4', /at most one/],
    ['fp16+int8', /at most one/],
    ['fp16:x', /no options/],
    ['gzip', /unknown stage/],
    ['int8+', /empty stage/],
    ['int8:tensor:axis=1', /axis= only applies/],
    ['int4:channel:axis=one', /not an integer/],
    ['pca=4:axis=1+int4:axis=2', /differs from the pca axis/],
    ['learned=0', /positive channel count/],
    ['learned=x', /positive channel count/],
    ['learned=8/s3', /stride 2 only/],
    ['learned=8/', /positive channel count/],
    ['learned=8:k=1', /unknown learned option/],
    ['pca=8+learned=8', /exclusive/],
    ['learned=8+pca=8', /exclusive/],
    ['int4+learned=8', /learned must come first/],
    ['learned=8+noise=0.5', /defences/],
    ['learned=4:axis=1+int4:axis=2', /differs from the learned axis/],
  ])('%j is E_BAD_ARGUMENT (%s) with a hint', (text, re) => {
    const e = errorOf(text);
    expect(e.code).toBe('E_BAD_ARGUMENT');
    expect(e.message).toMatch(re);
    expect(e.hint).toBeTruthy();
  });

  it('says which statistics a spec needs and which channel axis', () => {
    expect(specNeeds(parseCompressSpec('int8'))).toEqual({ covariance: false, projectedStats: false });
    expect(specNeeds(parseCompressSpec('pca=4'))).toEqual({ covariance: true, projectedStats: false });
    expect(specNeeds(parseCompressSpec('pca=4+int2'))).toEqual({ covariance: true, projectedStats: true });
    expect(specChannelAxis(parseCompressSpec('int8'), 4)).toBe(1);
    expect(specChannelAxis(parseCompressSpec('int8'), 3)).toBe(2);
    expect(specChannelAxis(parseCompressSpec('int8:channel:axis=-1'), 4)).toBe(3);
    expect(specChannelAxis(parseCompressSpec('pca=2:axis=1'), 3)).toBe(1);
    expect(specNeeds(parseCompressSpec('learned=4'))).toEqual({ covariance: true, projectedStats: false });
    expect(specNeeds(parseCompressSpec('learned=4/s2+int4'))).toEqual({ covariance: true, projectedStats: true });
    expect(specChannelAxis(parseCompressSpec('learned=2:axis=-1'), 3)).toBe(2);
  });

  it('prices learned=K/s2 with each spatial dim halved, rounded up', () => {
    const est = (text: string, dims: number[]) => estimateWireBytes(parseCompressSpec(text), DataType.FLOAT, dims);
    expect(est('learned=8+int4', [1, 32, 14, 14])).toBe((8 * 14 * 14) / 2);
    expect(est('learned=8/s2+int4', [1, 32, 14, 14])).toBe((8 * 7 * 7 + 1) >> 1);
    expect(est('learned=8/s2+int8', [1, 32, 7, 5])).toBe(8 * 4 * 3);
    expect(est('learned=8/s2', [1, 32, 7, 5])).toBe(8 * 4 * 3 * 4);
    expect(est('learned=8/s2+int8', [1, 32, 10])).toBeNull(); // /s2 is NCHW only
    expect(est('learned=64+int8', [1, 32, 4, 4])).toBe(32 * 4 * 4); // ≤ K channels: passed through
  });
});
