// The shape inference engine: walks the main graph and its subgraphs in order, applies
// the rule table, reconciles results with types declared in the file, and records known
// values. It never throws on model content: malformed nodes become warnings.

import { dtypeName } from '../../ir/dtype.js';
import { SplitcError } from '../../ir/errors.js';
import { AttrType, type Dim, type Graph, type Model, type Node, tensorType, type Value, type ValueType } from '../../ir/graph.js';
import { PassContext, type PassResult } from '../pass.js';
import { type OutType, RuleContext, RuleError, type RuleHost } from './context.js';
import { formatDims, isStaticShape } from './dims.js';
import { KNOWN_KEY, type KnownValue, knownValueOf } from './known.js';
import { SHAPE_RULES } from './rules/index.js';
import { unknownInput } from '../diagnostics.js';

export interface ShapeInferOptions {
  /**
   * Shapes for graph inputs by name (`--shape x=1x3x48x192`): they replace the declared
   * ones, whose rank and fixed dims they must keep (else E_BAD_ARGUMENT).
   */
  inputShapes?: Record<string, Dim[]>;
  /** Where warnings go (W_UNKNOWN_OP, W_SHAPE_MISMATCH, W_SHAPE_CONFLICT, W_SHAPE_RULE_FAILED). */
  ctx?: PassContext;
}

export interface ShapeInferResult extends PassResult {
  /** Named node outputs of the main graph, and how many got a fully static shape. */
  coverage: { staticValues: number; values: number };
}

/**
 * Key in `Value.meta`: the type the file declared, kept so that re-running starts from
 * it, with the type shape-infer last wrote. When `value.type` is no longer that one,
 * another pass changed it, and its type becomes the declared one.
 */
const DECLARED_KEY = 'shape.declared';

interface DeclaredEntry {
  declared: ValueType | null;
  ours: ValueType | null;
}

function isStandardDomain(d: string): boolean {
  return d === '' || d === 'ai.onnx';
}

function sameType(a: ValueType | null, b: ValueType | null): boolean {
  if (a === b) return true;
  if (!a || !b || a.kind !== b.kind) return false;
  if (a.kind === 'opaque' || b.kind === 'opaque') return false;
  if (a.dtype !== b.dtype) return false;
  if (!a.shape || !b.shape) return a.shape === b.shape;
  return a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape![i]);
}

function fmtType(t: ValueType | null): string {
  if (!t) return '?';
  if (t.kind === 'opaque') return 'a non-tensor type';
  return `${t.dtype ? dtypeName(t.dtype) : '?'}${formatDims(t.shape)}`;
}

/** A dim a rule may emit: a non-negative safe integer, a (short) symbol, or null. */
function validDim(d: Dim): boolean {
  return d === null || (typeof d === 'number' ? Number.isSafeInteger(d) && d >= 0 : typeof d === 'string' && d.length > 0);
}

/**
 * The type the model declares for a graph input: the one remembered from the first run
 * (a later run may have overridden it), else its current type, else its initializer's.
 */
function declaredInputType(v: Value): ValueType | null {
  const e = v.meta.get(DECLARED_KEY) as DeclaredEntry | undefined;
  const declared = e && e.ours === v.type ? e.declared : v.type;
  return declared ?? (v.constValue ? tensorType(v.constValue.dtype, [...v.constValue.dims]) : null);
}

/** `--shape name=…` with the model's fixed dims and a placeholder for the others. */
function exampleSpec(name: string, declared: Dim[], given: Dim[]): string {
  const sameRank = declared.length === given.length;
  const dims = declared.map((d, i) => {
    if (typeof d === 'number') return d;
    const g = sameRank ? given[i] : undefined;
    return typeof g === 'number' ? g : i === 0 ? 1 : 224;
  });
  return `--shape ${name}=${dims.join('x')}`;
}

/**
 * Every override names an input and gives valid dims, of the declared rank, agreeing with
 * the declared fixed dims (a symbol or unknown on either side agrees with anything):
 * onnxruntime would refuse such a feed, and figures computed from it would be fiction.
 */
function validateOverrides(g: Graph, shapes: Record<string, Dim[]>): void {
  const inputs = new Map(g.inputs.map((v) => [v.name, v]));
  for (const [name, dims] of Object.entries(shapes)) {
    const v = inputs.get(name);
    if (!v) {
      throw unknownInput(name, inputs.keys());
    }
    if (!Array.isArray(dims) || !dims.every(validDim)) {
      throw new SplitcError('E_BAD_ARGUMENT', `invalid shape for input '${name}': ${JSON.stringify(dims)}`, {
        hint: 'dims are non-negative integers, symbols like N, or null for unknown',
      });
    }
    const declared = declaredInputType(v);
    const d = declared?.kind === 'tensor' ? declared.shape : null;
    if (!d) continue;
    if (d.length !== dims.length) {
      throw new SplitcError(
        'E_BAD_ARGUMENT',
        `the shape given for input '${name}', ${formatDims(dims)}, has rank ${dims.length} but the model's input has rank ${d.length}: ${formatDims(d)}`,
        { hint: `give all ${d.length} dims, e.g. ${exampleSpec(name, d, dims)}` },
      );
    }
    const k = d.findIndex((x, i) => typeof x === 'number' && typeof dims[i] === 'number' && x !== dims[i]);
    if (k >= 0) {
      throw new SplitcError(
        'E_BAD_ARGUMENT',
        `the shape given for input '${name}', ${formatDims(dims)}, contradicts the model's ${formatDims(d)}: dim ${k} is fixed at ${String(d[k])}`,
        { hint: `only the model's symbolic or unknown dims can be chosen, e.g. ${exampleSpec(name, d, dims)}` },
      );
    }
  }
}

const CONTROL_OPS = new Set(['If', 'Loop', 'Scan']);
const WARNINGS_PER_CODE = 50;

function hasSubgraphs(n: Node): boolean {
  if (n.attributes.size === 0) return false;
  for (const a of n.attributes.values()) if (a.type === AttrType.GRAPH || a.type === AttrType.GRAPHS) return true;
  return false;
}

class Engine implements RuleHost {
  modified = false;
  /** Opaque ops by `domain::opType`: the nodes (a set, since Loop bodies are visited more than once). */
  private readonly unknownOps = new Map<string, Set<Node>>();
  private readonly warned = new Set<string>();
  /** Warnings per code, and how many were left out past WARNINGS_PER_CODE. */
  private readonly warnCount = new Map<string, number>();
  private readonly localFunctions: Set<string>;
  private readonly opset: number;

  constructor(
    private readonly model: Model,
    private readonly ctx: PassContext,
  ) {
    this.localFunctions = new Set(model.functions.map((f) => `${f.domain}::${f.name}`));
    this.opset = model.opset;
  }

  run(inputShapes: Record<string, Dim[]>): void {
    const g = this.model.graph;
    for (const v of g.inputs) {
      const declared = this.declaredOf(v, true);
      const override = Object.hasOwn(inputShapes, v.name) ? inputShapes[v.name]! : undefined;
      if (!override) {
        this.setType(v, declared ?? (v.constValue ? tensorType(v.constValue.dtype, [...v.constValue.dims]) : null), null);
        continue;
      }
      // (validateOverrides checked that the override agrees with the declared shape)
      const dt = declared?.kind === 'tensor' ? declared.dtype : (v.constValue?.dtype ?? 0);
      this.setType(v, tensorType(dt, [...override]), null);
    }
    this.inferBody(g);
    for (const [key, nodes] of this.unknownOps) {
      const count = nodes.size;
      const first = nodes.values().next().value!;
      this.warn(
        'W_UNKNOWN_OP',
        `no shape rule for ${key} (${count} node${count === 1 ? '' : 's'}): outputs keep the types declared in the file, else unknown`,
        this.where(first),
      );
    }
  }

  // ------------------------------------------------------------ graphs and nodes

  private inferBody(g: Graph): void {
    const inputs = new Set(g.inputs);
    for (const v of g.initializers.values()) {
      if (inputs.has(v) || !v.constValue) continue;
      this.setType(v, tensorType(v.constValue.dtype, [...v.constValue.dims]), null);
    }
    // a plain array walk: the graph is not mutated here, and generators are slow when cold
    for (const n of g.nodes.toArray()) this.inferNode(n);
  }

  inferSubgraph(g: Graph, inputs: readonly (OutType | null)[]): (OutType | null)[] {
    this.visitedByRule?.add(g);
    g.inputs.forEach((v, i) => {
      const declared = this.declaredOf(v, true);
      const given = inputs[i] ?? null;
      // a value is passed in only when it holds on every iteration (Loop's condition)
      this.setType(v, this.reconcile(v, given, declared, null), given?.value ?? null);
    });
    this.inferBody(g);
    return g.outputs.map((v) => {
      const t = v.tensorType;
      return t ? { dtype: t.dtype, shape: t.shape ? [...t.shape] : null, value: knownValueOf(v) } : null;
    });
  }

  /** Subgraphs the running rule looked into (so the others are still visited). */
  private visitedByRule: Set<Graph> | null = null;

  private inferNode(n: Node): void {
    const std = isStandardDomain(n.domain);
    const rule = std && (this.localFunctions.size === 0 || !this.localFunctions.has(`${n.domain}::${n.opType}`)) ? SHAPE_RULES.get(n.opType) : undefined;
    // standard ops other than control flow have no graph attributes: skip the scan
    const withSubgraphs = rule && !CONTROL_OPS.has(n.opType) ? false : hasSubgraphs(n);
    const outerVisited = this.visitedByRule;
    const visited = withSubgraphs ? new Set<Graph>() : null;
    let results: readonly (OutType | null | undefined)[] | null = null;
    if (!rule) {
      const key = `${n.domain || 'ai.onnx'}::${n.opType}`;
      const u = this.unknownOps.get(key);
      if (u) u.add(n);
      else this.unknownOps.set(key, new Set([n]));
    } else {
      const opset = std ? this.opset : (this.model.opsetImports.get(n.domain) ?? 1);
      this.visitedByRule = visited;
      try {
        results = rule(new RuleContext(n, opset, this));
      } catch (e) {
        const why = e instanceof RuleError || e instanceof SplitcError ? e.message : `internal error: ${e instanceof Error ? e.message : String(e)}`;
        this.warn('W_SHAPE_RULE_FAILED', `shape rule for ${n.opType} failed: ${why}; its outputs get an unknown shape`, this.where(n));
        results = null;
      } finally {
        this.visitedByRule = outerVisited;
      }
    }
    const outs = n.outputs;
    for (let i = 0; i < outs.length; i++) {
      const o = outs[i]!;
      if (!o.name) continue; // an omitted optional output
      const declared = this.declaredOf(o, false);
      if (!rule) {
        // opaque op: what the file (or the pass that made the node) says
        this.setType(o, declared ?? o.type, null);
        continue;
      }
      const r = results?.[i] ?? null;
      const value = r ? this.checkedValue(n, o, r) : null;
      this.setType(o, this.reconcile(o, r, declared, n), value);
    }
    // subgraphs the rule did not look into (opaque ops, failed rules) still get types
    if (visited) for (const sg of n.subgraphs()) if (!visited.has(sg)) this.inferSubgraph(sg, []);
  }

  /**
   * Replace impossible dims (negative, NaN, huge) by unknown, in place, and return the
   * rule's value when it agrees with the shape.
   */
  private checkedValue(n: Node, o: Value, r: OutType): KnownValue | null {
    const shape = r.shape;
    if (shape) {
      for (let k = 0; k < shape.length; k++) {
        if (validDim(shape[k]!)) continue;
        this.conflict(n, `computed an invalid shape ${formatDims(shape)} for '${o.name}'`);
        for (let j = k; j < shape.length; j++) if (!validDim(shape[j]!)) shape[j] = null;
        break;
      }
    }
    const value = r.value;
    if (!value) return null;
    if (shape === null || shape.length !== value.dims.length) return null;
    let count = 1;
    for (let k = 0; k < shape.length; k++) {
      const d = shape[k]!;
      const vd = value.dims[k]!;
      if (typeof d === 'number' && d !== vd) return null;
      count *= vd;
    }
    if (value.data.length !== count) return null;
    return r.dtype && value.dtype !== r.dtype ? { ...value, dtype: r.dtype } : value;
  }

  /**
   * The type to keep: the inferred one, completed by the declared one where inference
   * knows less; a contradiction is a W_SHAPE_MISMATCH warning and inference wins.
   */
  private reconcile(v: Value, inferred: OutType | null, declared: ValueType | null, n: Node | null): ValueType | null {
    if (!declared) return inferred ? tensorType(inferred.dtype, inferred.shape ? [...inferred.shape] : null) : null;
    if (!inferred) return declared.kind === 'tensor' ? tensorType(declared.dtype, declared.shape ? [...declared.shape] : null) : declared;
    const result = tensorType(inferred.dtype, inferred.shape ? [...inferred.shape] : null);
    if (declared.kind !== 'tensor') {
      this.mismatch(v, result, declared, n);
      return result;
    }
    let clash = false;
    if (!result.dtype) result.dtype = declared.dtype;
    else if (declared.dtype && declared.dtype !== result.dtype) clash = true;
    if (!result.shape) result.shape = declared.shape ? [...declared.shape] : null;
    else if (declared.shape) {
      if (declared.shape.length !== result.shape.length) clash = true;
      else {
        for (let k = 0; k < result.shape.length; k++) {
          const i = result.shape[k]!;
          const d = declared.shape[k]!;
          if (i === null) result.shape[k] = d;
          else if (typeof i === 'number' && typeof d === 'number' && i !== d) clash = true;
        }
      }
    }
    if (clash) this.mismatch(v, result, declared, n);
    return result;
  }

  private mismatch(v: Value, inferred: ValueType, declared: ValueType, n: Node | null): void {
    this.warn(
      'W_SHAPE_MISMATCH',
      `'${v.name}' is inferred as ${fmtType(inferred)} but the file declares ${fmtType(declared)}; keeping the inferred type`,
      n ? this.where(n) : `value '${v.name}'`,
    );
  }

  // ------------------------------------------------------------ values

  /**
   * The type the model declared for `v`, remembered across runs: value_info for node
   * outputs, and whatever type graph inputs had when first seen (`anyType`).
   */
  private declaredOf(v: Value, anyType: boolean): ValueType | null {
    if (!anyType && !v.typeFromFile) return null;
    const e = v.meta.get(DECLARED_KEY) as DeclaredEntry | undefined;
    if (e && e.ours === v.type) return e.declared;
    const entry: DeclaredEntry = { declared: v.type, ours: v.type };
    v.meta.set(DECLARED_KEY, entry);
    return entry.declared;
  }

  private setType(v: Value, t: ValueType | null, value: KnownValue | null): void {
    if (!sameType(v.type, t)) {
      v.type = t;
      this.modified = true;
    }
    const e = v.meta.get(DECLARED_KEY) as DeclaredEntry | undefined;
    if (e) e.ours = v.type;
    if (value) v.meta.set(KNOWN_KEY, value);
    else v.meta.delete(KNOWN_KEY);
  }

  // ------------------------------------------------------------ diagnostics

  conflict(n: Node, message: string): void {
    this.warn('W_SHAPE_CONFLICT', `${n.describe()}: ${message}`, this.where(n));
  }

  private warn(code: string, message: string, location: string): void {
    const key = `${code}\0${location}\0${message}`;
    if (this.warned.has(key)) return;
    this.warned.add(key);
    const n = (this.warnCount.get(code) ?? 0) + 1;
    this.warnCount.set(code, n);
    // an overridden batch size can contradict every value_info entry: report a sample
    if (n <= WARNINGS_PER_CODE) this.ctx.warn(code, message, location);
  }

  /** One line for each code whose warnings were cut short. */
  reportSuppressed(): void {
    for (const [code, n] of this.warnCount) {
      if (n > WARNINGS_PER_CODE) this.ctx.warn(code, `${n - WARNINGS_PER_CODE} more ${code} warnings not shown`, 'model');
    }
  }

  private where(n: Node): string {
    const parts: string[] = [n.describe()];
    for (let g = n.graph; g?.parentNode; g = g.parentNode.graph) parts.unshift(`${g.parentNode.describe()} / ${g.name || 'subgraph'}`);
    return parts.join(' / ');
  }
}

/**
 * Infer the type of every value of the model (main graph and subgraphs) in place.
 * Known small tensors are recorded for `knownValueOf`. Throws only E_BAD_ARGUMENT, before
 * touching the model, for `inputShapes` that name no input, hold invalid dims, or
 * contradict the input's declared rank or fixed dims.
 */
export function inferShapes(model: Model, opts: ShapeInferOptions = {}): ShapeInferResult {
  const inputShapes = opts.inputShapes ?? {};
  validateOverrides(model.graph, inputShapes);
  const engine = new Engine(model, opts.ctx ?? new PassContext());
  engine.run(inputShapes);
  engine.reportSuppressed();
  let values = 0;
  let staticValues = 0;
  for (const n of model.graph.nodes.toArray()) {
    for (const o of n.outputs) {
      if (!o.name) continue;
      values++;
      if (isStaticShape(o.shape)) staticValues++;
    }
  }
  return { model, modified: engine.modified, coverage: { staticValues, values } };
}
