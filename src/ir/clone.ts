// Copying parts of a graph into another: nodes (with their subgraphs) are cloned, values
// are remapped through a map owned by the caller, tensors are shared (never copied).

import { SplitcError } from './errors.js';
import { type Attribute, AttrType, Graph, Model, Node, Value, type ValueType } from './graph.js';

export function cloneType(t: ValueType | null): ValueType | null {
  if (!t) return null;
  if (t.kind === 'opaque') return { kind: 'opaque', raw: t.raw };
  return { kind: 'tensor', dtype: t.dtype, shape: t.shape ? [...t.shape] : null };
}

/** A fresh value with the same name, type and doc string. */
export function cloneValue(v: Value): Value {
  const c = new Value(v.name, cloneType(v.type));
  c.docString = v.docString;
  c.typeFromFile = v.typeFromFile;
  return c;
}

/**
 * Clone `n` (not yet inserted anywhere). Every input must already be in `map`; outputs
 * are created and added to it. Subgraphs are cloned with references to enclosing
 * values resolved through `map`.
 */
export function cloneNode(n: Node, map: Map<Value, Value>): Node {
  const inputs = n.inputs.map((v) => {
    if (!v) return null;
    const m = map.get(v);
    if (!m) throw new SplitcError('E_VERIFY', `cannot clone ${n.describe()}: input '${v.name}' has no counterpart`);
    return m;
  });
  const outputs = n.outputs.map((v) => {
    const c = cloneValue(v);
    map.set(v, c);
    return c;
  });
  const attributes: Attribute[] = [...n.attributes.values()].map((a) => {
    if (a.type === AttrType.GRAPH) return { ...a, value: cloneGraph(a.value, map) };
    if (a.type === AttrType.GRAPHS) return { ...a, value: a.value.map((g) => cloneGraph(g, map)) };
    return { ...a };
  });
  const c = new Node(n.domain, n.opType, inputs, outputs, { name: n.name, attributes });
  c.overload = n.overload;
  c.docString = n.docString;
  c.extra = n.extra;
  for (const sg of c.subgraphs()) sg.parentNode = c;
  return c;
}

/** Clone a whole (sub)graph; values it reads from enclosing scopes are looked up in `map`. */
export function cloneGraph(g: Graph, map: Map<Value, Value>): Graph {
  const c = new Graph(g.name);
  c.docString = g.docString;
  c.extra = g.extra;
  for (const v of g.inputs) {
    const nv = cloneValue(v);
    map.set(v, nv);
    c.addInput(nv);
  }
  for (const v of g.initializers.values()) {
    let nv = map.get(v);
    if (!nv || nv.graph !== c) {
      nv = cloneValue(v);
      map.set(v, nv);
    }
    c.addInitializer(nv, v.constValue!);
  }
  for (const n of g.nodes) c.appendNode(cloneNode(n, map));
  for (const v of g.outputs) {
    const m = map.get(v);
    if (!m) throw new SplitcError('E_VERIFY', `cannot clone graph '${g.name}': output '${v.name}' has no counterpart`);
    c.outputs.push(m);
  }
  return c;
}

/** A model with a cloned main graph and the same header (opsets, producer, metadata); tensors are shared. */
export function cloneModelShallow(m: Model): Model {
  const c = new Model(cloneGraph(m.graph, new Map()), m.irVersion);
  c.opsetImports.clear();
  for (const [d, v] of m.opsetImports) c.opsetImports.set(d, v);
  c.producerName = m.producerName;
  c.producerVersion = m.producerVersion;
  c.domain = m.domain;
  c.modelVersion = m.modelVersion;
  c.docString = m.docString;
  c.metadataProps = [...m.metadataProps];
  c.functions = m.functions;
  c.extra = m.extra;
  return c;
}
