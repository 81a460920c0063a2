// `splitc split`: load a model, infer shapes, cut it (at tensors or after a node), optionally
// compress what crosses the cut, and write the deployable bundle (edge/, cloud/, triton/,
// manifest.json). Prints a summary for people or JSON for pipelines.

import { buildBundle, type BuildResult } from '../codegen/bundle.js';
import { bundleInputFromSplit, type BundleInput } from '../codegen/input.js';
import type { Manifest } from '../codegen/manifest.js';
import { SplitcError } from '../ir/errors.js';
import type { Dim, Model } from '../ir/graph.js';
import { loadModelWithBytes } from '../ir/serde/io.js';
import { assertValid } from '../ir/verify.js';
import { formatCompressSpec, parseCompressSpec, type CompressSpec } from '../passes/bottleneck/spec.js';
import { cutAfterNode, splitModel, type SplitResult } from '../passes/cut.js';
import { PassContext, type Diagnostic } from '../passes/pass.js';
import { inferShapes } from '../passes/shape/index.js';
import { bytes, si, table } from './format.js';

export const SPLIT_SCHEMA_VERSION = 1;

export interface SplitOptions {
  model: string;
  /** Cut tensor names (exactly one of cut / cutAfter). */
  cut?: string[];
  /** Cut right after this node (name, or the name of one of its outputs). */
  cutAfter?: string;
  shapes?: Record<string, Dim[]>;
  /** Compression spec text (`none` when absent). */
  compress?: string;
  /** Calibration data for compression (images folder, .npy, or `random`). */
  calib?: string;
  outDir: string;
  toolVersion: string;
  /** Name the cloud model is served under (default `model`). */
  modelName?: string;
}

/**
 * Integration point for `--compress`: turn the plain split into the compressed one.
 * Gets the model (shapes inferred), the plain split, the parsed spec and `--calib`, and the
 * bundle input of the plain split; returns the bundle input to build (new edge/cloud
 * models, wire tensors with their compression facts, and `compression`).
 */
export type CompressStep = (args: {
  model: Model;
  split: SplitResult;
  spec: CompressSpec;
  specText: string;
  calib: string | undefined;
  input: BundleInput;
  ctx: PassContext;
}) => BundleInput | Promise<BundleInput>;

export interface SplitReport {
  schemaVersion: number;
  bundle: string;
  source: Manifest['source'];
  cut: Manifest['cut'];
  wire: Manifest['wire'];
  bytesPerSample: Manifest['bytesPerSample'];
  edge: { nodes: number; macs: number; paramBytes: number; outputs: string[] };
  cloud: { nodes: number; macs: number; paramBytes: number; outputs: string[] };
  compression: Manifest['compression'];
  triton: Manifest['triton'];
  files: string[];
  warnings: Diagnostic[];
}

export async function runSplit(opts: SplitOptions, deps: { compress?: CompressStep } = {}): Promise<{ report: SplitReport; result: BuildResult }> {
  const hasCut = opts.cut !== undefined && opts.cut.length > 0;
  if (hasCut === (opts.cutAfter !== undefined)) {
    throw new SplitcError('E_BAD_ARGUMENT', hasCut ? 'give either --cut or --cut-after, not both' : 'say where to cut: --cut <tensors> or --cut-after <node>', {
      hint: 'e.g. --cut-after p2o.Conv.10 or --cut a,b (tensor names as printed by splitc inspect)',
    });
  }
  const specText = opts.compress ?? 'none';
  const spec = parseCompressSpec(specText);
  if (spec.stages.length === 0 && opts.calib !== undefined) {
    throw new SplitcError('E_BAD_ARGUMENT', '--calib needs --compress', { hint: 'calibration data sets the ranges of a compression stage, e.g. --compress int8' });
  }
  if (spec.stages.length > 0 && !deps.compress) {
    throw new SplitcError('E_BAD_ARGUMENT', `compression '${formatCompressSpec(spec)}' is not available in this build of splitc split`, {
      hint: 'split without --compress',
    });
  }

  const { model, bytes: source } = loadModelWithBytes(opts.model);
  const ctx = new PassContext();
  inferShapes(model, { inputShapes: opts.shapes ?? {}, ctx });
  const cutNames = hasCut ? opts.cut!.map((s) => s.trim()).filter(Boolean) : cutAfterNode(model, opts.cutAfter!);
  const split = splitModel(model, cutNames, ctx);
  assertValid(split.edge);
  assertValid(split.cloud);

  let input = bundleInputFromSplit(model, split, {
    toolVersion: opts.toolVersion,
    sourceFile: opts.model,
    sourceBytes: source,
    ...(opts.modelName !== undefined ? { modelName: opts.modelName } : {}),
  });
  for (const w of input.wire) {
    const symbols = w.shape.slice(1).filter((d) => typeof d !== 'number');
    if (symbols.length) {
      ctx.warn(
        'W_SYMBOLIC_WIRE',
        `wire tensor '${w.name}' has symbolic dims (${symbols.join(', ')}); bytes per sample count them as 1 (fix the input dims with --shape)`,
      );
    }
  }
  if (spec.stages.length > 0) {
    input = await deps.compress!({ model, split, spec, specText: formatCompressSpec(spec), calib: opts.calib, input, ctx });
  }
  const result = buildBundle(input, opts.outDir);
  const m = result.manifest;
  const report: SplitReport = {
    schemaVersion: SPLIT_SCHEMA_VERSION,
    bundle: opts.outDir,
    source: m.source,
    cut: m.cut,
    wire: m.wire,
    bytesPerSample: m.bytesPerSample,
    edge: { nodes: m.edge.nodes, macs: m.edge.macs, paramBytes: m.edge.paramBytes, outputs: m.signature.outputs.filter((o) => o.side === 'edge').map((o) => o.name) },
    cloud: { nodes: m.cloud.nodes, macs: m.cloud.macs, paramBytes: m.cloud.paramBytes, outputs: m.signature.outputs.filter((o) => o.side === 'cloud').map((o) => o.name) },
    compression: m.compression,
    triton: m.triton,
    files: result.files,
    warnings: ctx.diagnostics,
  };
  return { report, result };
}

function shapeText(s: Dim[]): string {
  return s.map((d) => (d === null ? '?' : String(d))).join('×');
}

export function formatSplit(r: SplitReport): string {
  const lines: string[] = [];
  lines.push(`bundle ${r.bundle} (${r.files.length} files) from ${r.source.file}`);
  const ratio = r.bytesPerSample.rawInputs > 0 ? ` = ${((100 * r.bytesPerSample.wire) / r.bytesPerSample.rawInputs).toFixed(1)}% of the raw input (${bytes(r.bytesPerSample.rawInputs)})` : '';
  lines.push(`cut: ${r.cut.tensors.length} tensor${r.cut.tensors.length === 1 ? '' : 's'}, ${bytes(r.bytesPerSample.wire)} per sample on the wire${ratio}`);
  if (r.cut.dropped.length) lines.push(`  not sent (the cloud does not need them): ${r.cut.dropped.join(', ')}`);
  lines.push(
    table(
      ['wire tensor', 'type', 'shape', 'bytes/sample'],
      r.wire.map((w) => [w.name, w.dtype, shapeText(w.shape), String(w.bytesPerSample)]),
      [false, false, false, true],
    ),
  );
  lines.push(
    table(
      ['part', 'nodes', 'MACs', 'weights', 'outputs'],
      [
        ['edge', String(r.edge.nodes), si(r.edge.macs), bytes(r.edge.paramBytes), r.edge.outputs.join(', ') || '(wire only)'],
        ['cloud', String(r.cloud.nodes), si(r.cloud.macs), bytes(r.cloud.paramBytes), r.cloud.outputs.join(', ')],
      ],
      [false, true, true, true, false],
    ),
  );
  lines.push(`compression: ${r.compression.spec}`);
  lines.push(
    r.triton.maxBatchSize > 0
      ? `triton: ${r.triton.config} (max_batch_size ${r.triton.maxBatchSize}, dynamic batching)`
      : `triton: ${r.triton.config} (no batching: ${r.triton.noBatchingReason})`,
  );
  return lines.join('\n');
}
