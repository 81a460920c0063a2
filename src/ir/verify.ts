// IR verifier: the invariants every pass must preserve. Returns all problems found;
// `assertValid` throws the first as a SplitcError with its code.

import { SplitcError, type ErrorCode } from './errors.js';
import { type Graph, type Model, type Node, type Value, AttrType } from './graph.js';
import { isKnownDtype } from './dtype.js';
import type { Tensor } from './tensor.js';

export interface VerifyIssue {
  code: ErrorCode;
  message: string;
  location: string;
}

export function verifyModel(model: Model): VerifyIssue[] {
  const issues: VerifyIssue[] = [];
  verifyGraph(model.graph, [], issues, 'graph');
  for (const f of model.functions) verifyGraph(f.body, [], issues, `function ${f.domain}.${f.name}`, true);
  return issues;
}

export function assertValid(model: Model): void {
  const issues = verifyModel(model);
  if (issues.length) {
    const first = issues[0]!;
    throw new SplitcError(first.code, first.message + (issues.length > 1 ? ` (and ${issues.length - 1} more problems)` : ''), {
      location: first.location,
    });
  }
}

function verifyGraph(g: Graph, outer: Set<Value>[], issues: VerifyIssue[], where: string, lenient = false): void {
  const add = (code: ErrorCode, message: string, location = where): void => {
    issues.push({ code, message, location });
  };
  const defined = new Set<Value>();
  const names = new Map<string, Value>();
  const define = (v: Value, what: string): void => {
    if (defined.has(v)) {
      add('E_VALUE_REDEFINED', `value '${v.name}' is defined twice (again as ${what})`);
      return;
    }
    if (v.name) {
      const other = names.get(v.name);
      if (other && other !== v) add('E_VALUE_REDEFINED', `two different values are named '${v.name}' (second: ${what})`);
      names.set(v.name, v);
    }
    defined.add(v);
    if (v.graph !== g) add('E_VERIFY', `value '${v.name}' (${what}) does not record this graph as its owner`);
  };
  for (const v of g.inputs) {
    if (v.producer()) add('E_VERIFY', `graph input '${v.name}' has a producer`);
    define(v, 'graph input');
  }
  const inputSet = new Set(g.inputs);
  for (const [name, v] of g.initializers) {
    if (name !== v.name) add('E_VERIFY', `initializer key '${name}' does not match its value name '${v.name}'`);
    if (!v.constValue) add('E_VERIFY', `initializer '${name}' has no data`);
    if (!inputSet.has(v)) define(v, 'initializer');
    checkConstType(v, add);
  }
  const visible = (v: Value): boolean => defined.has(v) || outer.some((s) => s.has(v));
  let prev: Node | null = null;
  let count = 0;
  for (const n of g.nodes) {
    count++;
    const loc = `${where}: ${n.describe()}`;
    if (n.graph !== g) add('E_VERIFY', `node is listed in a graph it does not belong to`, loc);
    if (prev && n._prev !== prev) add('E_VERIFY', `node list links are inconsistent`, loc);
    prev = n;
    n.inputs.forEach((v, i) => {
      if (!v) return;
      if (!visible(v)) {
        if (lenient && !v.producer() && v.graph === null) return; // function formal parameters resolved at call sites
        const producedLater = v.producer()?.graph === g;
        add(
          producedLater ? 'E_CYCLE' : 'E_UNDEFINED_INPUT',
          producedLater
            ? `input '${v.name}' is used before it is produced (graph is not in topological order or has a cycle)`
            : `input '${v.name}' is not defined in this graph or an enclosing one`,
          loc,
        );
      }
      if (!v.uses().some((u) => u.node === n && u.index === i)) add('E_VERIFY', `use-def chain of '${v.name}' misses input ${i}`, loc);
    });
    for (const sg of n.subgraphs()) {
      if (sg.parentNode !== n) add('E_VERIFY', `subgraph '${sg.name}' does not point back to its node`, loc);
      verifyGraph(sg, [...outer, defined], issues, `${loc} / subgraph '${sg.name}'`, lenient);
    }
    n.outputs.forEach((v, i) => {
      if (v.producer() !== n || v.outputIndex() !== i) add('E_VERIFY', `output '${v.name}' does not point back to its producer`, loc);
      if (v.name === '') return; // omitted optional output
      define(v, `output of ${n.describe()}`);
    });
    for (const a of n.attributes.values()) {
      if ((a.type === AttrType.GRAPH && !a.value) || (a.type === AttrType.TENSOR && !a.value)) {
        add('E_VERIFY', `attribute '${a.name}' has no value`, loc);
      }
      // tensor attributes (Constant values) become initializers in passes: same rules
      const addAt = (code: ErrorCode, message: string): void => add(code, message, loc);
      if (a.type === AttrType.TENSOR && a.value) checkTensorData(a.value, `attribute '${a.name}'`, addAt);
      if (a.type === AttrType.TENSORS) for (const t of a.value) checkTensorData(t, `attribute '${a.name}'`, addAt);
    }
  }
  if (count !== g.nodes.length) add('E_VERIFY', `node count ${g.nodes.length} does not match the list (${count})`);
  for (const v of defined) {
    for (const u of v.uses()) {
      if (u.node.inputs[u.index] !== v) add('E_VERIFY', `stale use of '${v.name}' by ${u.node.describe()}`);
      if (!u.node.graph) add('E_VERIFY', `'${v.name}' is used by a node that was removed (${u.node.describe()})`);
    }
  }
  for (const v of g.outputs) {
    if (!visible(v) && !(lenient && v.graph === null)) add('E_UNDEFINED_OUTPUT', `graph output '${v.name}' is never produced`);
  }
}

function checkConstType(v: Value, add: (code: ErrorCode, message: string) => void): void {
  const t = v.constValue;
  if (!t) return;
  checkTensorData(t, `initializer '${v.name}'`, add);
  const tt = v.tensorType;
  if (tt && tt.dtype !== t.dtype) add('E_VERIFY', `initializer '${v.name}' is declared ${tt.dtype} but holds ${t.dtype}`);
  if (tt?.shape) {
    const same = tt.shape.length === t.dims.length && tt.shape.every((d, i) => typeof d !== 'number' || d === t.dims[i]);
    if (!same) add('E_VERIFY', `initializer '${v.name}' is declared [${tt.shape.join(',')}] but holds [${t.dims.join(',')}]`);
  }
}

/** Known dtype, and in-memory data whose size matches dtype and dims. */
function checkTensorData(t: Tensor, what: string, add: (code: ErrorCode, message: string) => void): void {
  if (!isKnownDtype(t.dtype)) add('E_TENSOR', `${what} has unknown data type ${t.dtype}`);
  const have = t.storage.byteLength;
  if (have !== undefined && t.storage.kind === 'memory' && t.dtype !== 8 && have !== t.expectedByteLength) {
    add('E_TENSOR', `${what} has ${have} bytes of data, expected ${t.expectedByteLength} for [${t.dims.join(',')}]`);
  }
}
