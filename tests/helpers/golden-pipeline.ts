// Runs a pass pipeline written as text for the pass goldens (tests/golden/passes/) and
// prints what it made: notes of each step, the printed IR of every resulting model and a
// digest of every constant tensor (the printer shows only their types, and folding or
// quantizing changes their data). The IR is verified after every step.
//
// Every step is a registered pass (src/passes/pass.ts) run through a PassManager; the
// harness only turns into notes what the passes keep for their callers (the cut's tensors,
// the bottleneck's wire, the gradients), gives the bottleneck calibration statistics (from
// seeded synthetic data: statistics are data, not options), and has one report step that
// is not a pass, `cost-report`.

import { createHash } from 'node:crypto';
import { DataType, dtypeName } from '../../src/ir/dtype.js';
import { allGraphs, AttrType, Model } from '../../src/ir/graph.js';
import { printModel } from '../../src/ir/printer.js';
import type { Tensor } from '../../src/ir/tensor.js';
import { assertValid } from '../../src/ir/verify.js';
import type { AutodiffPass } from '../../src/passes/autodiff/pass.js';
import type { CompressedSplit } from '../../src/passes/bottleneck/compress.js';
import { bottleneckPass } from '../../src/passes/bottleneck/pass.js';
import { parseCompressSpec } from '../../src/passes/bottleneck/spec.js';
import { annotateCost } from '../../src/passes/cost.js';
import type { SplitResult } from '../../src/passes/cut.js';
import { type AnyPass, type Diagnostic, parsePipeline, PassContext, PassManager } from '../../src/passes/pass.js';
import { syntheticSplitStats } from './synthetic-stats.js';
// passes register themselves when their modules load
import '../../src/passes/autodiff/pass.js';
import '../../src/passes/cut-pass.js';

export interface PipelineState {
  /** The models the pipeline has so far: one (`model`), or `edge` and `cloud` after a cut. */
  parts: { label: string; model: Model }[];
  /** What the last pass handed on: a Model, or a split (SplitResult, CompressedSplit). */
  unit?: unknown;
  notes: string[];
}

type Step = (state: PipelineState, options: Record<string, string>, ctx: PassContext) => void;

/** Steps that report on the models without being passes. */
export const FUNCTION_STEPS: Record<string, Step> = {
  /** `cost-report`: annotateCost's figures per node and in total (the registered `cost` pass computes them but keeps nothing). */
  'cost-report'(state) {
    for (const { label, model } of state.parts) {
      const r = annotateCost(model);
      for (const [n, c] of r.nodes) state.notes.push(`${label} ${n.name || n.opType} (${n.opType}): macs=${c.macs} paramBytes=${c.paramBytes} outputBytes=${c.outputBytes}${c.exact ? '' : ' inexact'}`);
      state.notes.push(`${label} totals: ${JSON.stringify(r.totals)}`);
    }
  },
};

/** The pass a step runs: the registered one, the bottleneck with synthetic statistics for the split it compresses. */
function stepPass(text: string, unit: unknown): AnyPass {
  const [pass, ...more] = parsePipeline(text);
  if (!pass || more.length) throw new Error(`'${text}' is not one pass`);
  if (pass.name !== 'bottleneck') return pass;
  const spec = pass.options.spec ?? 'none';
  return bottleneckPass(spec, syntheticSplitStats(unit as SplitResult, parseCompressSpec(spec)));
}

/** What a pass made that its models do not show. */
function passNotes(pass: AnyPass, unit: unknown): string[] {
  if (pass.name === 'cut') {
    const split = unit as SplitResult;
    return [
      `cut tensors: ${split.cutTensors.join(', ')}`,
      `edge outputs: ${split.edgeOutputs.join(', ') || '-'}; cloud outputs: ${split.cloudOutputs.join(', ') || '-'}; dropped: ${split.droppedCutTensors.join(', ') || '-'}`,
    ];
  }
  if (pass.name === 'bottleneck') {
    const c = unit as CompressedSplit;
    return [`compression: ${c.spec}`, ...c.wire.map((w) => `wire %${w.name} ${w.dtype}[${w.shape.join(',')}] from %${w.source}: ${w.bytesPerSample} of ${w.rawBytesPerSample} bytes per sample, ${w.stage}`)];
  }
  if (pass.name === 'autodiff') {
    const r = (pass as AutodiffPass).result!;
    return [`differentiated ${r.nodes} nodes; opset ${r.opset.from} -> ${r.opset.to}; unreachable: ${r.unreachable.join(', ') || '-'}`, ...[...r.grads].map(([name, g]) => `gradient of %${name}: %${g.name}`)];
  }
  return [];
}

const SPLIT_PASSES = new Set(['bottleneck']);

/** Splits `a,b{k=v;k2=v2},c` into step texts (the grammar of parsePipeline). */
export function pipelineSteps(text: string): { text: string; name: string; options: Record<string, string> }[] {
  const steps: { text: string; name: string; options: Record<string, string> }[] = [];
  const re = /\s*([a-z][a-z0-9-]*)\s*(?:\{([^}]*)\})?\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < text.trim().length && (m = re.exec(text)) && m[0].length) {
    const options: Record<string, string> = {};
    for (const kv of (m[2] ?? '').split(';').filter((s) => s.trim())) {
      const eq = kv.indexOf('=');
      options[kv.slice(0, eq).trim()] = kv.slice(eq + 1).trim();
    }
    steps.push({ text: m[0].trim().replace(/,$/, ''), name: m[1]!, options });
  }
  if (re.lastIndex < text.trim().length) throw new Error(`cannot parse pipeline at '${text.slice(re.lastIndex)}'`);
  return steps;
}

const diagnosticLine = (d: Diagnostic): string => `${d.level} ${d.code}${d.location ? ` at ${d.location}` : ''}: ${d.message}`;

export function runGoldenPipeline(model: Model, text: string): PipelineState {
  const state: PipelineState = { parts: [{ label: 'model', model }], unit: model, notes: [] };
  for (const step of pipelineSteps(text)) {
    const ctx = new PassContext();
    const fn = FUNCTION_STEPS[step.name];
    if (fn) fn(state, step.options, ctx);
    else {
      const pass = stepPass(step.text, state.unit);
      const pm = new PassManager<unknown, unknown>([pass], { verify: true });
      if (state.unit instanceof Model || SPLIT_PASSES.has(pass.name)) {
        state.unit = pm.run(state.unit, ctx).model;
        const u = state.unit as Model | { edge: Model; cloud: Model };
        state.parts = u instanceof Model ? [{ label: 'model', model: u }] : [
          { label: 'edge', model: u.edge },
          { label: 'cloud', model: u.cloud },
        ];
      } else {
        // a Model pass after a cut runs on the edge and on the cloud
        for (const part of state.parts) part.model = pm.run(part.model, ctx).model as Model;
        state.unit = { ...(state.unit as object), edge: state.parts[0]!.model, cloud: state.parts[1]!.model };
      }
      state.notes.push(...passNotes(pass, state.unit));
    }
    for (const part of state.parts) assertValid(part.model);
    for (const d of ctx.diagnostics) state.notes.push(`${step.name}: ${diagnosticLine(d)}`);
  }
  return state;
}

/** Small numeric tensors (shapes, axes, scales) by value, the rest by the first 16 hex digits of their data's sha256. */
function contents(t: Tensor): string {
  if (t.elementCount <= SHOWN_ELEMENTS && t.dtype !== DataType.STRING) {
    try {
      return `= [${t.toNumbers().join(', ')}]`;
    } catch {
      // sub-byte and other types without a typed array: fall through to the digest
    }
  }
  return createHash('sha256').update(t.bytes()).digest('hex').slice(0, 16);
}
const SHOWN_ELEMENTS = 8;
const tensorLine = (kind: string, name: string, t: Tensor): string => `${kind} %${name}: ${dtypeName(t.dtype)}[${t.dims.join(',')}] ${contents(t)}`;

/** One line per constant tensor (initializers, Constant and other tensor attributes), in graph order. */
export function tensorDigests(model: Model): string[] {
  const lines: string[] = [];
  for (const g of allGraphs(model.graph)) {
    for (const v of g.initializers.values()) lines.push(tensorLine('init', v.name, v.constValue!));
    for (const n of g.nodes) {
      for (const a of n.attributes.values()) {
        if (a.type === AttrType.TENSOR) lines.push(tensorLine(`${n.opType}.${a.name}`, n.outputs[0]?.name ?? n.name, a.value));
      }
    }
  }
  return lines;
}

/** The text of an after.txt (or before.txt): notes, then each model printed with its tensor digests. */
export function printState(state: PipelineState): string {
  const out: string[] = [];
  if (state.notes.length) out.push('== notes', ...state.notes, '');
  for (const { label, model } of state.parts) {
    out.push(`== ${label}`, printModel(model).trimEnd(), '-- tensors (up to 8 elements by value, else the first 16 hex digits of the sha256 of their data)', ...tensorDigests(model), '');
  }
  return out.join('\n');
}
