// Runs a pass pipeline written as text for the pass goldens (tests/golden/passes/) and
// prints what it made: notes of each step, the printed IR of every resulting model and a
// digest of every constant tensor (the printer shows only their types, and folding or
// quantizing changes their data). The IR is verified after every step.
//
// A step is a registered pass (src/passes/pass.ts, run through a PassManager) unless
// FUNCTION_STEPS has it: the transformations that are plain functions today (cut,
// bottleneck, autodiff) and a cost report. When one becomes a registered pass, delete its
// entry here; the goldens then check that the pass does what the function did.

import { createHash } from 'node:crypto';
import { DataType, dtypeName } from '../../src/ir/dtype.js';
import { allGraphs, AttrType, type Model } from '../../src/ir/graph.js';
import { printModel } from '../../src/ir/printer.js';
import type { Tensor } from '../../src/ir/tensor.js';
import { assertValid } from '../../src/ir/verify.js';
import { differentiate, parameterNames } from '../../src/passes/autodiff/index.js';
import { sumLoss } from '../../src/passes/autodiff/losses.js';
import { compressSplit } from '../../src/passes/bottleneck/compress.js';
import { parseCompressSpec } from '../../src/passes/bottleneck/spec.js';
import { annotateCost } from '../../src/passes/cost.js';
import { cutAfterNode, splitModel, type SplitResult } from '../../src/passes/cut.js';
import { type Diagnostic, parsePipeline, PassContext, PassManager } from '../../src/passes/pass.js';
import { syntheticSplitStats } from './synthetic-stats.js';

export interface PipelineState {
  /** The models the pipeline has so far: one (`model`), or `edge` and `cloud` after a cut. */
  parts: { label: string; model: Model }[];
  split?: SplitResult;
  notes: string[];
}

type Step = (state: PipelineState, options: Record<string, string>, ctx: PassContext) => void;

const list = (v: string | undefined): string[] => (v ?? '').split('+').map((s) => s.trim()).filter(Boolean);

function single(state: PipelineState, step: string): Model {
  if (state.parts.length !== 1) throw new Error(`${step} needs one model, the pipeline has ${state.parts.map((p) => p.label).join(' and ')}`);
  return state.parts[0]!.model;
}

export const FUNCTION_STEPS: Record<string, Step> = {
  /** `cut{after=NODE}` or `cut{at=a+b}`: splitModel (src/passes/cut.ts). */
  cut(state, o, ctx) {
    const model = single(state, 'cut');
    const split = splitModel(model, o.at !== undefined ? list(o.at) : cutAfterNode(model, o.after!), ctx);
    state.split = split;
    state.parts = [
      { label: 'edge', model: split.edge },
      { label: 'cloud', model: split.cloud },
    ];
    state.notes.push(`cut tensors: ${split.cutTensors.join(', ')}`);
    state.notes.push(`edge outputs: ${split.edgeOutputs.join(', ') || '-'}; cloud outputs: ${split.cloudOutputs.join(', ') || '-'}; dropped: ${split.droppedCutTensors.join(', ') || '-'}`);
  },
  /** `bottleneck{spec=pca=4+int8}` after a cut: compressSplit with seeded synthetic statistics (tests/helpers/synthetic-stats.ts). */
  bottleneck(state, o, ctx) {
    if (!state.split) throw new Error('bottleneck needs a cut before it');
    const spec = parseCompressSpec(o.spec ?? 'none');
    const c = compressSplit(state.split, spec, syntheticSplitStats(state.split, spec), ctx);
    state.parts = [
      { label: 'edge', model: c.edge },
      { label: 'cloud', model: c.cloud },
    ];
    state.notes.push(`compression: ${c.spec}`);
    for (const w of c.wire) state.notes.push(`wire %${w.name} ${w.dtype}[${w.shape.join(',')}] from %${w.source}: ${w.bytesPerSample} of ${w.rawBytesPerSample} bytes per sample, ${w.stage}`);
  },
  /** `autodiff{wrt=params|a+b;loss=NAME|sum}` or `autodiff{wrt=…;seeds=out:dout+…}`: differentiate (src/passes/autodiff). */
  autodiff(state, o) {
    const model = single(state, 'autodiff');
    const wrt = o.wrt === 'params' ? parameterNames(model) : list(o.wrt);
    const seeds = o.seeds !== undefined ? Object.fromEntries(list(o.seeds).map((s) => s.split(':') as [string, string])) : undefined;
    const loss = o.loss === 'sum' ? sumLoss(model).name : o.loss;
    const r = differentiate(model, { wrt, ...(loss !== undefined ? { loss } : {}), ...(seeds ? { seeds } : {}) });
    state.notes.push(`differentiated ${r.nodes} nodes; opset ${r.opset.from} -> ${r.opset.to}; unreachable: ${r.unreachable.join(', ') || '-'}`);
    for (const [name, g] of r.grads) state.notes.push(`gradient of %${name}: %${g.name}`);
  },
  /** `cost-report`: annotateCost's figures per node and in total (the registered `cost` pass computes them but keeps nothing). */
  'cost-report'(state) {
    for (const { label, model } of state.parts) {
      const r = annotateCost(model);
      for (const [n, c] of r.nodes) state.notes.push(`${label} ${n.name || n.opType} (${n.opType}): macs=${c.macs} paramBytes=${c.paramBytes} outputBytes=${c.outputBytes}${c.exact ? '' : ' inexact'}`);
      state.notes.push(`${label} totals: ${JSON.stringify(r.totals)}`);
    }
  },
};

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
  const state: PipelineState = { parts: [{ label: 'model', model }], notes: [] };
  for (const step of pipelineSteps(text)) {
    const ctx = new PassContext();
    const fn = FUNCTION_STEPS[step.name];
    if (fn) fn(state, step.options, ctx);
    else {
      const pm = new PassManager(parsePipeline(step.text), { verify: true });
      for (const part of state.parts) part.model = pm.run(part.model, ctx).model;
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
