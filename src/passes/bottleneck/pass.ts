// The bottleneck as a pass: `bottleneck{spec=pca=16+int8}` inserts the compression a spec
// describes into copies of a split's edge and cloud. Calibration statistics are data, not
// options: they come with the pass object, and a replay without them fits specs that need none.

import type { SplitResult } from '../cut.js';
import { checkPassOptions, registerPass, type Pass } from '../pass.js';
import { compressSplit, type CompressedSplit, type SplitStats } from './compress.js';
import { type CompressSpec, formatCompressSpec, parseCompressSpec } from './spec.js';

export function bottleneckPass(spec: CompressSpec | string, stats: SplitStats = {}): Pass<SplitResult, CompressedSplit> {
  const parsed = typeof spec === 'string' ? parseCompressSpec(spec) : spec;
  return {
    name: 'bottleneck',
    options: { spec: typeof spec === 'string' ? spec : formatCompressSpec(spec) },
    inPlace: false,
    run: (split, ctx) => ({ model: compressSplit(split, parsed, stats, ctx), modified: parsed.stages.length > 0 }),
  };
}

registerPass('bottleneck', (options) => {
  checkPassOptions('bottleneck', options, ['spec'], 'spec=<compression spec>, e.g. bottleneck{spec=int8}');
  return bottleneckPass(options.spec ?? 'none');
});
