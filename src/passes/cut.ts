// The cut: split a model at a set of tensors into an edge model (inputs → cut tensors,
// plus outputs that lie wholly before the cut) and a cloud model (cut tensors → the
// remaining outputs). Weights needed on both sides are in both; the cloud's inputs carry
// the names of the edge's wire outputs.

import { cloneNode, cloneValue } from '../ir/clone.js';
import { constantPredicate, isConstantNode } from '../ir/constants.js';
import { dtypeName } from '../ir/dtype.js';
import { SplitcError } from '../ir/errors.js';
import { Graph, Model, type Node, type Value } from '../ir/graph.js';
import type { PassContext } from './pass.js';
import { unknownTensorType } from './diagnostics.js';

export interface SplitResult {
  edge: Model;
  cloud: Model;
  /** Tensors sent from edge to cloud, in graph order (edge outputs = cloud inputs, same names). */
  cutTensors: string[];
  /** Original outputs computed on the edge and returned directly, in original output order. */
  edgeOutputs: string[];
  /** Original outputs computed by the cloud, in original output order. */
  cloudOutputs: string[];
  /** Cut tensors given but not needed by the cloud (dropped). */
  droppedCutTensors: string[];
}

/** Cut tensors equivalent to cutting right after node `nodeName`: everything it depends on runs on the edge. */
export function cutAfterNode(model: Model, nodeName: string): string[] {
  const g = model.graph;
  const target = [...g.nodes].find((n) => n.name === nodeName) ?? [...g.nodes].find((n) => n.outputs.some((o) => o.name === nodeName));
  if (!target) {
    const names = [...g.nodes].map((n) => n.name).filter(Boolean);
    throw new SplitcError('E_CUT', `no node named '${nodeName}'`, {
      hint: names.length ? `node names look like '${names[Math.floor(names.length / 2)]}'; see splitc inspect` : 'the model has no node names; cut at tensor names with --cut',
    });
  }
  // edge = target and its ancestors (constants excluded: they are copied, not sent)
  const isConst = constantPredicate();
  const isConstNode = (n: Node): boolean => isConstantNode(n, isConst);
  const edge = new Set<Node>();
  const stack: Node[] = [target];
  while (stack.length) {
    const n = stack.pop()!;
    if (edge.has(n)) continue;
    edge.add(n);
    for (const v of n.dependencies()) {
      const p = v.producer();
      if (p && !isConstNode(p) && p.graph === g) stack.push(p);
    }
  }
  const cut = new Set<Value>();
  const outputs = new Set(g.outputs);
  const onEdgeSide = (v: Value): boolean => {
    if (isConst(v)) return false;
    const p = v.producer();
    return p ? edge.has(p) : v.isGraphInput();
  };
  for (const n of g.nodes) {
    if (edge.has(n) || isConstNode(n)) continue;
    for (const v of n.dependencies()) if (onEdgeSide(v)) cut.add(v);
  }
  // edge values that are model outputs are returned by the edge; the cut is what the cloud reads
  if (cut.size === 0) {
    const onlyOutputs = [...outputs].every((o) => onEdgeSide(o));
    throw new SplitcError('E_CUT', `cutting after '${nodeName}' leaves nothing for the cloud`, {
      hint: onlyOutputs ? 'that node is at (or after) the end of the model; cut earlier' : 'pick a node that has consumers',
    });
  }
  return [...cut].map((v) => v.name);
}

/**
 * Split at the given tensor names. The model should have types for the cut tensors
 * (run shape inference first). Throws E_CUT naming a path that escapes the cut.
 */
export function splitModel(model: Model, cutNames: readonly string[], ctx?: PassContext): SplitResult {
  const g = model.graph;
  const table = g.valuesByName();
  if (cutNames.length === 0) throw new SplitcError('E_CUT', 'no cut tensors given', { hint: 'name tensors with --cut a,b or a node with --cut-after' });
  const unknown = cutNames.filter((n) => !table.has(n));
  if (unknown.length) {
    throw new SplitcError('E_CUT', `unknown tensor${unknown.length > 1 ? 's' : ''} in the cut: ${unknown.map((n) => `'${n}'`).join(', ')}`, {
      hint: 'use tensor names as printed by `splitc inspect` (the "output" column)',
    });
  }
  const cut = new Set<Value>();
  const isConst = constantPredicate();
  for (const name of cutNames) {
    const v = table.get(name)!;
    if (isConst(v)) {
      const p = v.producer();
      const how = p && p.opType !== 'Constant' ? ` (computed from weights only, by ${p.describe()})` : '';
      throw new SplitcError('E_CUT', `'${name}' is a constant${how}: weights are copied to both sides, not sent`, { hint: 'cut at an activation tensor (one that depends on a model input)' });
    }
    cut.add(v);
  }

  // Which outputs depend on the cut (the cloud computes those)?
  const downstream = new Set<Value>(cut);
  for (const n of g.nodes) {
    if (n.dependencies().some((v) => downstream.has(v))) for (const o of n.outputs) downstream.add(o);
  }
  const cloudOut = g.outputs.filter((o) => downstream.has(o) && !cut.has(o));
  const edgeOut = g.outputs.filter((o) => !cloudOut.includes(o));
  if (cloudOut.length === 0) {
    throw new SplitcError('E_CUT', 'no model output depends on the cut, so the cloud would have nothing to do', {
      hint: 'cut earlier, between the inputs and the outputs',
    });
  }

  // Cloud closure: backwards from its outputs, stopping at cut tensors and constants.
  const cloudNodes = new Set<Node>();
  const usedCut = new Set<Value>();
  // for error paths: value → the node that needed it; node → the output it was needed for
  const via = new Map<Value, Node>();
  const reachedBy = new Map<Node, Value>();
  const stack: Value[] = [...cloudOut];
  const seen = new Set<Value>();
  while (stack.length) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    if (cut.has(v)) {
      usedCut.add(v);
      continue;
    }
    if (v.constValue && !v.isGraphInput()) continue; // initializer: copied
    const p = v.producer();
    if (!p || p.graph !== g) {
      if (v.graph !== g) continue; // defined in an enclosing scope: not possible for the main graph
      throw escapeError(v, via, reachedBy);
    }
    if (cloudNodes.has(p)) continue;
    cloudNodes.add(p);
    reachedBy.set(p, v);
    for (const d of p.dependencies()) {
      if (!via.has(d)) via.set(d, p);
      stack.push(d);
    }
  }
  const dropped = [...cut].filter((v) => !usedCut.has(v));
  for (const v of dropped) ctx?.warn('W_CUT_UNUSED', `cut tensor '${v.name}' is not needed by the cloud side; it is not sent`);

  // Edge closure: backwards from the wire tensors and edge outputs to the inputs.
  const edgeNodes = new Set<Node>();
  const estack: Value[] = [...usedCut, ...edgeOut];
  const eseen = new Set<Value>();
  while (estack.length) {
    const v = estack.pop()!;
    if (eseen.has(v)) continue;
    eseen.add(v);
    const p = v.producer();
    if (!p || p.graph !== g || edgeNodes.has(p)) continue;
    edgeNodes.add(p);
    for (const d of p.dependencies()) estack.push(d);
  }

  // Wire order: graph order (inputs first), whatever order the user listed them in.
  const order = new Map<Value, number>();
  let k = 0;
  for (const v of g.inputs) order.set(v, k++);
  for (const n of g.nodes) for (const o of n.outputs) order.set(o, k++);
  const wire = [...usedCut].sort((a, b) => order.get(a)! - order.get(b)!);
  for (const v of wire) {
    const t = v.tensorType;
    if (!t || !t.dtype) {
      throw unknownTensorType(v.name, 'cut');
    }
  }

  // Edge model: the original inputs it reads, the nodes it runs, outputs = wire + edge outputs.
  const edgeInputs = g.inputs.filter((v) => !(v.constValue && !v.isGraphInput()) && (eseen.has(v) || edgeOut.includes(v)));
  const edgeGraph = buildPart(g, `${g.name || 'model'}_edge`, edgeInputs, edgeNodes, [...wire, ...edgeOut.filter((o) => !usedCut.has(o))]);
  // Cloud model: wire tensors in, cloud outputs out.
  const cloudGraph = buildPart(g, `${g.name || 'model'}_cloud`, wire, cloudNodes, cloudOut);

  return {
    edge: deriveModel(model, edgeGraph, 'edge'),
    cloud: deriveModel(model, cloudGraph, 'cloud'),
    cutTensors: wire.map((v) => v.name),
    edgeOutputs: edgeOut.map((v) => v.name),
    cloudOutputs: cloudOut.map((v) => v.name),
    droppedCutTensors: dropped.map((v) => v.name),
  };
}

/** A new graph: `inputs` become graph inputs, `nodes` are cloned in original order, constants they read are copied. */
function buildPart(src: Graph, name: string, inputs: Value[], nodes: Set<Node>, outputs: Value[]): Graph {
  const part = new Graph(name);
  part.docString = src.docString;
  const map = new Map<Value, Value>();
  for (const v of inputs) {
    const nv = cloneValue(v);
    map.set(v, nv);
    part.addInput(nv);
  }
  // initializers read by the part (in the source's initializer order)
  const needed = new Set<Value>();
  for (const n of nodes) for (const d of n.dependencies()) if (d.constValue && !d.isGraphInput()) needed.add(d);
  for (const v of outputs) if (v.constValue && !v.isGraphInput()) needed.add(v);
  for (const v of src.initializers.values()) {
    if (!needed.has(v) || map.has(v)) continue;
    const nv = cloneValue(v);
    map.set(v, nv);
    part.addInitializer(nv, v.constValue!);
  }
  for (const n of src.nodes) if (nodes.has(n)) part.appendNode(cloneNode(n, map));
  for (const v of outputs) {
    const m = map.get(v);
    if (!m) throw new SplitcError('E_VERIFY', `internal: output '${v.name}' of the ${name} part has no producer`);
    part.outputs.push(m);
  }
  return part;
}

function deriveModel(src: Model, graph: Graph, side: string): Model {
  const m = new Model(graph, src.irVersion);
  m.opsetImports.clear();
  for (const [d, v] of src.opsetImports) m.opsetImports.set(d, v);
  m.producerName = 'splitc';
  m.producerVersion = '';
  m.domain = src.domain;
  m.modelVersion = src.modelVersion;
  m.docString = src.docString;
  m.metadataProps = [...src.metadataProps, ['splitc.side', side]];
  m.functions = src.functions;
  return m;
}

/** Error naming a path from a model input to a cloud output that avoids the cut. */
function escapeError(input: Value, via: Map<Value, Node>, reachedBy: Map<Node, Value>): SplitcError {
  const path: string[] = [input.name];
  let v: Value | undefined = input;
  for (let guard = 0; v && guard < 100_000; guard++) {
    const n = via.get(v);
    if (!n) break;
    path.push(`${n.opType}${n.name ? ` '${n.name}'` : ''}`);
    v = reachedBy.get(n);
    if (v) path.push(v.name);
  }
  const shown = path.length > 13 ? [...path.slice(0, 6), '…', ...path.slice(-6)] : path;
  const t = input.tensorType;
  return new SplitcError('E_CUT', `the cut does not separate the inputs from the outputs: ${shown.join(' → ')}`, {
    hint: `add a tensor on that path to the cut (or the input '${input.name}'${t ? ` (${dtypeName(t.dtype)})` : ''} itself if the cloud needs it raw)`,
  });
}
