// Fresh names for new values and nodes: one scope of taken names, and `base`, `base_1`,
// `base_2`… for the first free one. Every graph builder and pass draws its names here.

import type { Graph } from './graph.js';

export class NameScope {
  private readonly taken: Set<string>;

  constructor(names: Iterable<string> = []) {
    this.taken = new Set(names);
  }

  /** The names of a graph's values (defined or output) and nodes. */
  static ofGraph(g: Graph): NameScope {
    const scope = new NameScope();
    scope.addGraph(g);
    return scope;
  }

  /**
   * The names of a graph and of every subgraph nested in it, including the outer values
   * subgraphs refer to (ONNX names are unique across a graph and its subgraphs).
   */
  static ofGraphTree(root: Graph): NameScope {
    const scope = new NameScope();
    const visit = (g: Graph): void => {
      scope.addGraph(g);
      for (const n of g.nodes) {
        for (const v of n.inputs) if (v) scope.taken.add(v.name);
        n.subgraphs().forEach(visit);
      }
    };
    visit(root);
    return scope;
  }

  private addGraph(g: Graph): void {
    for (const v of g.definedValues()) this.taken.add(v.name);
    for (const n of g.nodes) if (n.name) this.taken.add(n.name);
    for (const v of g.outputs) this.taken.add(v.name);
  }

  /** A name not yet taken, reserved from now on. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.taken.has(name); i++) name = `${base}_${i}`;
    this.taken.add(name);
    return name;
  }

  has(name: string): boolean {
    return this.taken.has(name);
  }

  /** Reserve an exact name (taken or not). */
  reserve(name: string): void {
    this.taken.add(name);
  }

  /** Reserve an exact name; false when it is taken. */
  claim(name: string): boolean {
    if (this.taken.has(name)) return false;
    this.taken.add(name);
    return true;
  }
}

/**
 * Numbered names `prefix_0`, `prefix_1`… from one counter shared by all prefixes, without
 * looking at the graph: for graphs built from scratch (GraphBuilder), whose names are theirs.
 */
export function numberedNames(): (prefix: string) => string {
  let counter = 0;
  return (prefix) => `${prefix}_${counter++}`;
}
