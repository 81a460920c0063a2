// Deterministic text form of a model: readable in reviews and used as the golden format.

import { dtypeName } from './dtype.js';
import { type Attribute, AttrType, decodeUtf8, type Graph, type Model, type Shape, type Value } from './graph.js';

export function printModel(model: Model): string {
  const lines: string[] = [];
  const opsets = [...model.opsetImports].map(([d, v]) => `${d || 'ai.onnx'}:${v}`).join(', ');
  lines.push(`model ir=${model.irVersion} opset={${opsets}}${model.producerName ? ` producer=${JSON.stringify(model.producerName)}` : ''}`);
  printGraph(model.graph, lines, '');
  for (const f of model.functions) {
    lines.push(`function ${f.domain}.${f.name}`);
    printGraph(f.body, lines, '  ');
  }
  return lines.join('\n') + '\n';
}

export function formatShape(shape: Shape | null): string {
  if (!shape) return '?';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

export function formatType(v: Value): string {
  const t = v.type;
  if (!t) return '?';
  if (t.kind === 'opaque') return 'opaque';
  return `${dtypeName(t.dtype)}${formatShape(t.shape)}`;
}

function printGraph(g: Graph, lines: string[], indent: string): void {
  lines.push(`${indent}graph ${JSON.stringify(g.name)} (`);
  for (const v of g.inputs) lines.push(`${indent}  in  %${v.name}: ${formatType(v)}${v.constValue ? ' = init' : ''}`);
  lines.push(`${indent}) -> (`);
  for (const v of g.outputs) lines.push(`${indent}  out %${v.name}: ${formatType(v)}`);
  lines.push(`${indent})`);
  for (const v of g.initializers.values()) {
    if (g.inputs.includes(v)) continue;
    const t = v.constValue!;
    lines.push(`${indent}  init %${v.name}: ${dtypeName(t.dtype)}[${t.dims.join(',')}]`);
  }
  for (const n of g.nodes) {
    const outs = n.outputs.map((v) => `%${v.name}: ${formatType(v)}`).join(', ');
    const ins = n.inputs.map((v) => (v ? `%${v.name}` : '_')).join(', ');
    const op = n.domain ? `${n.domain}::${n.opType}` : n.opType;
    const attrs = [...n.attributes.values()].map(formatAttr);
    lines.push(`${indent}  ${outs} = ${op}(${ins})${attrs.length ? ` {${attrs.join(', ')}}` : ''}${n.name ? `  # ${n.name}` : ''}`);
    for (const a of n.attributes.values()) {
      const gs = a.type === AttrType.GRAPH ? [a.value] : a.type === AttrType.GRAPHS ? a.value : [];
      for (const sg of gs) {
        lines.push(`${indent}    ${a.name}:`);
        printGraph(sg, lines, indent + '    ');
      }
    }
  }
}

function formatAttr(a: Attribute): string {
  switch (a.type) {
    case AttrType.FLOAT:
      return `${a.name}=${a.value}`;
    case AttrType.INT:
      return `${a.name}=${String(a.value)}`;
    case AttrType.STRING:
      return `${a.name}=${JSON.stringify(decodeUtf8(a.value))}`;
    case AttrType.FLOATS:
      return `${a.name}=[${a.value.join(',')}]`;
    case AttrType.INTS:
      return `${a.name}=[${a.value.map(String).join(',')}]`;
    case AttrType.STRINGS:
      return `${a.name}=[${a.value.map((s) => JSON.stringify(decodeUtf8(s))).join(',')}]`;
    case AttrType.TENSOR:
      return `${a.name}=<${dtypeName(a.value.dtype)}[${a.value.dims.join(',')}]>`;
    case AttrType.GRAPH:
      return `${a.name}=<graph>`;
    case AttrType.GRAPHS:
      return `${a.name}=<${a.value.length} graphs>`;
    default:
      return `${a.name}=<opaque>`;
  }
}
