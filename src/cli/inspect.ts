// `splitc inspect`: load, infer shapes, annotate costs, and report — as a table for
// people or as JSON (schema in docs/cli.md) for pipelines.

import * as fs from 'node:fs';
import { dtypeName } from '../ir/dtype.js';
import type { Dim, Model, Value } from '../ir/graph.js';
import { loadModel } from '../ir/serde/io.js';
import { assertValid } from '../ir/verify.js';
import { annotateCost, type CostTotals } from '../passes/cost.js';
import { CHECKED_RUN, PassContext, PassManager, type Diagnostic } from '../passes/pass.js';
import { shapeInferPassOf } from '../passes/shape/index.js';
import { bytes, si, table } from './format.js';

export const INSPECT_SCHEMA_VERSION = 1;

export interface TensorInfo {
  name: string;
  dtype: string | null;
  /** Dims: numbers, symbols, or null for unknown; null when even the rank is unknown. */
  shape: Dim[] | null;
}

export interface InspectReport {
  schemaVersion: number;
  model: {
    path: string;
    fileBytes: number;
    irVersion: number;
    opsetImports: Record<string, number>;
    producerName: string;
    producerVersion: string;
    graphName: string;
  };
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  nodes: {
    name: string;
    opType: string;
    domain: string;
    inputs: (string | null)[];
    outputs: TensorInfo[];
    macs: number;
    paramBytes: number;
    outputBytes: number;
    exact: boolean;
  }[];
  totals: Omit<CostTotals, 'inexactNodes'>;
  opHistogram: Record<string, number>;
  shapeCoverage: { staticValues: number; values: number };
  warnings: Diagnostic[];
}

export function tensorInfo(v: Value): TensorInfo {
  const t = v.tensorType;
  return { name: v.name, dtype: t && t.dtype ? dtypeName(t.dtype) : null, shape: t?.shape ? [...t.shape] : null };
}

export function inspectModel(file: string, inputShapes: Record<string, Dim[]> = {}): InspectReport {
  const model = loadModel(file);
  return buildInspectReport(model, file, fs.statSync(file).size, inputShapes);
}

export function buildInspectReport(model: Model, file: string, fileBytes: number, inputShapes: Record<string, Dim[]> = {}): InspectReport {
  assertValid(model);
  const ctx = new PassContext();
  new PassManager([shapeInferPassOf(inputShapes)], CHECKED_RUN).run(model, ctx);
  const cost = annotateCost(model);
  const g = model.graph;
  const histogram = new Map<string, number>();
  let staticValues = 0;
  let values = 0;
  const nodes: InspectReport['nodes'] = [];
  for (const n of g.nodes) {
    const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}::${n.opType}` : n.opType;
    histogram.set(key, (histogram.get(key) ?? 0) + 1);
    const c = cost.nodes.get(n)!;
    for (const o of n.outputs) {
      if (!o.name) continue;
      values++;
      if (o.shape && o.shape.every((d) => typeof d === 'number')) staticValues++;
    }
    nodes.push({
      name: n.name,
      opType: n.opType,
      domain: n.domain,
      inputs: n.inputs.map((v) => (v ? v.name : null)),
      outputs: n.outputs.map(tensorInfo),
      macs: c.macs,
      paramBytes: c.paramBytes,
      outputBytes: c.outputBytes,
      exact: c.exact,
    });
  }
  const opHistogram = Object.fromEntries([...histogram].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
  const { inexactNodes: _inexact, ...totals } = cost.totals;
  void _inexact;
  return {
    schemaVersion: INSPECT_SCHEMA_VERSION,
    model: {
      path: file,
      fileBytes,
      irVersion: model.irVersion,
      opsetImports: Object.fromEntries([...model.opsetImports].map(([d, v]) => [d || 'ai.onnx', v])),
      producerName: model.producerName,
      producerVersion: model.producerVersion,
      graphName: g.name,
    },
    inputs: g.inputs.filter((v) => !v.constValue).map(tensorInfo),
    outputs: g.outputs.map(tensorInfo),
    nodes,
    totals,
    opHistogram,
    shapeCoverage: { staticValues, values },
    warnings: ctx.diagnostics.filter((d) => d.level === 'warning'),
  };
}

function fmtShape(s: Dim[] | null): string {
  return s ? `[${s.map((d) => (d === null ? '?' : d)).join(',')}]` : '?';
}

export function formatInspect(r: InspectReport, opts: { nodes: boolean; constants?: boolean }): string {
  const out: string[] = [];
  const m = r.model;
  const opsets = Object.entries(m.opsetImports)
    .map(([d, v]) => `${d}:${v}`)
    .join(' ');
  out.push(`model      ${m.path} (${bytes(m.fileBytes)}, IR ${m.irVersion}, opset ${opsets}${m.producerName ? `, from ${m.producerName} ${m.producerVersion}`.trimEnd() : ''})`);
  out.push('');
  out.push(table(['input', 'dtype', 'shape'], r.inputs.map((t) => [t.name, t.dtype ?? '?', fmtShape(t.shape)])));
  out.push('');
  out.push(table(['output', 'dtype', 'shape'], r.outputs.map((t) => [t.name, t.dtype ?? '?', fmtShape(t.shape)])));
  out.push('');
  const t = r.totals;
  out.push(`nodes      ${t.nodes}`);
  out.push(`params     ${si(t.params)} (${bytes(t.paramBytes)} of constants)`);
  out.push(`MACs       ${si(t.macs)}`);
  out.push(`peak act.  ${bytes(t.peakActivationBytes)} live at once (${bytes(t.activationBytes)} produced in total)`);
  out.push(`shapes     ${r.shapeCoverage.staticValues}/${r.shapeCoverage.values} values with a static shape`);
  out.push(`ops        ${Object.entries(r.opHistogram).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (t.assumedSymbols.length) {
    const shown = t.assumedSymbols.slice(0, 3).join(', ') + (t.assumedSymbols.length > 3 ? ` and ${t.assumedSymbols.length - 3} more` : '');
    const example = r.inputs.find((i) => i.shape?.some((d) => typeof d !== 'number'));
    out.push('');
    out.push(`note: MACs and memory take the symbolic dims ${shown} as 1.`);
    if (example) {
      const dims = (example.shape ?? []).map((d, i) => (typeof d === 'number' ? d : i === 0 ? 1 : 224));
      out.push(`      For real figures fix the input dims, e.g. --shape ${example.name}=${dims.join('x')} (${example.name} is ${fmtShape(example.shape)})`);
    }
  }
  if (opts.nodes) {
    // Constant nodes are parameters, listed only on request (they are most of PaddleOCR's nodes).
    // Rows are numbered as shown (1, 2, …): graph positions would start at #213 there.
    const shown = r.nodes.filter((n) => opts.constants || !(n.opType === 'Constant' && !n.domain));
    out.push('');
    out.push(
      table(
        ['#', 'node', 'op', 'output', 'dtype', 'shape', 'MACs', 'params', 'out bytes'],
        shown.map((n, row) => {
          const o = n.outputs[0];
          return [
            String(row + 1),
            n.name || '-',
            n.domain && n.domain !== 'ai.onnx' ? `${n.domain}::${n.opType}` : n.opType,
            o?.name ?? '',
            o?.dtype ?? '?',
            fmtShape(o?.shape ?? null) + (n.outputs.length > 1 ? ` +${n.outputs.length - 1}` : ''),
            n.macs ? si(n.macs) : '',
            n.paramBytes ? bytes(n.paramBytes) : '',
            n.outputBytes ? bytes(n.outputBytes) : '',
          ];
        }),
        [true, false, false, false, false, false, true, true, true],
      ),
    );
    const hidden = r.nodes.length - shown.length;
    if (hidden) out.push(`(${hidden} Constant nodes not listed; --constants lists them)`);
  }
  return out.join('\n');
}
