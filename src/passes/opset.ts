// upgrade-opset: moves a model to a newer version of the default ONNX operator set so that
// onnxruntime computes bit-identical outputs. Op knowledge lives in two tables:
// OPSET_CHANGES (opset/changes.ts: what changed in each op's schema at each opset after 7)
// and UPGRADERS (opset/upgraders.ts: how to rewrite a node across a change that is not
// backward compatible); this file checks every node first, then applies the rewrites.

import { SplitcError } from '../ir/errors.js';
import { allGraphs, type Graph, type Model, type Node } from '../ir/graph.js';
import { NameScope } from '../ir/names.js';
import { Emitter } from './emit.js';
import { MIN_IR_VERSION, OPSET_CHANGES } from './opset/changes.js';
import { type Apply, type ScopeOptions, TypeFacts, UpgradeContext } from './opset/context.js';
import { UPGRADERS } from './opset/upgraders.js';
import { checkPassOptions, registerPass, type Pass } from './pass.js';

export { OPSET_CHANGES } from './opset/changes.js';
export { UPGRADERS } from './opset/upgraders.js';

/** Oldest opset a model can be upgraded from (opset 6 and older have other broadcasting rules). */
export const MIN_UPGRADE_OPSET = 7;
/** Newest opset the upgrade writes: what onnxruntime-node 1.30 runs. */
export const MAX_UPGRADE_OPSET = 21;

export interface UpgradeResult {
  /** Default-domain opset before the call. */
  from: number;
  /** Default-domain opset after the call (`from` when there was nothing to do). */
  to: number;
  /** Nodes rewritten (nodes whose ops changed only compatibly are not counted). */
  converted: number;
}

// ------------------------------------------------------------------ entry points

/**
 * Upgrade the default-domain opset of `model` to `target`, in place. Every node (in
 * subgraphs and model-local functions too) whose op changed incompatibly on the way is
 * rewritten; all checks run before anything changes, so a failure leaves the model as it
 * was. The IR version is raised to the lowest one that may declare the target opset.
 */
export function upgradeOpset(model: Model, target: number): UpgradeResult {
  if (!Number.isInteger(target) || target < MIN_UPGRADE_OPSET || target > MAX_UPGRADE_OPSET) {
    throw new SplitcError('E_OPSET', `cannot upgrade to opset ${target}`, {
      hint: `targets from ${MIN_UPGRADE_OPSET} to ${MAX_UPGRADE_OPSET} are supported (${MAX_UPGRADE_OPSET} is the newest onnxruntime-node 1.30 runs)`,
    });
  }
  const from = model.opset;
  if (target <= from) return { from, to: from, converted: 0 };
  checkSource(from, 'the model');

  const finalIr = Math.max(model.irVersion, MIN_IR_VERSION[target] ?? model.irVersion);
  const plans: Apply[] = [];
  planScope(model.graph, { from, to: target, facts: new TypeFacts(model), initializers: finalIr >= 4 }, plans);
  const functionUpdates: (() => void)[] = [];
  for (const f of model.functions) {
    const key = defaultDomainKey(f.opsetImports);
    const fFrom = key === undefined ? undefined : f.opsetImports.get(key);
    if (key === undefined || fFrom === undefined || fFrom >= target) continue;
    checkSource(fFrom, `function ${f.domain}.${f.name}`);
    planScope(f.body, { from: fFrom, to: target, facts: TypeFacts.none, initializers: false }, plans);
    functionUpdates.push(() => f.opsetImports.set(key, target));
  }

  // Every check passed: only now does the model change.
  for (const apply of plans) apply();
  for (const update of functionUpdates) update();
  model.opsetImports.set(defaultDomainKey(model.opsetImports) ?? '', target);
  model.irVersion = finalIr;
  return { from, to: target, converted: plans.length };
}

/** `upgrade-opset{to=17}` in pipelines. */
export function upgradeOpsetPass(options: Record<string, string> = {}): Pass {
  checkPassOptions('upgrade-opset', options, ['to'], 'to=N');
  const to = Number(options.to);
  if (options.to === undefined || !Number.isInteger(to)) {
    throw new SplitcError('E_BAD_ARGUMENT', `pass 'upgrade-opset' needs to=N (an opset), got '${options.to ?? ''}'`, { hint: `e.g. upgrade-opset{to=${MAX_UPGRADE_OPSET}}` });
  }
  return {
    name: 'upgrade-opset',
    options,
    inPlace: true,
    run: (model) => {
      const r = upgradeOpset(model, to);
      return { model, modified: r.to !== r.from };
    },
  };
}

registerPass('upgrade-opset', upgradeOpsetPass);

function checkSource(from: number, what: string): void {
  if (from < MIN_UPGRADE_OPSET) {
    throw new SplitcError('E_OPSET', `${what} uses opset ${from}; upgrades start at opset ${MIN_UPGRADE_OPSET}`, {
      hint: 'opsets before 7 have other broadcasting and attribute rules; re-export the model at a newer opset',
    });
  }
}

function defaultDomainKey(imports: Map<string, number>): string | undefined {
  if (imports.has('')) return '';
  if (imports.has('ai.onnx')) return 'ai.onnx';
  return undefined;
}

function isDefaultDomain(d: string): boolean {
  return d === '' || d === 'ai.onnx';
}

// ------------------------------------------------------------------ planning

/** Plan the rewrites of a graph and its subgraphs (one name scope). */
function planScope(root: Graph, opts: ScopeOptions, plans: Apply[]): void {
  const names = NameScope.ofGraphTree(root);
  for (const g of allGraphs(root)) {
    const emit = new Emitter(g, { opset: opts.to, initializers: opts.initializers && g === root, names, naming: 'output' });
    for (const n of g.nodes) {
      if (!isDefaultDomain(n.domain)) continue;
      const p = planNode(n, new UpgradeContext(n, opts, emit));
      if (p) plans.push(p);
    }
  }
}

function planNode(n: Node, cx: UpgradeContext): Apply | null {
  const changes = Object.hasOwn(OPSET_CHANGES, n.opType) ? OPSET_CHANGES[n.opType]! : undefined;
  if (!changes) {
    throw cx.error(`${n.describe()}: '${n.opType}' is not an op of the default ONNX domain known to the opset converter`, {
      hint: 'give it its own domain if it is a custom op, or upgrade a model that uses only standard ops',
    });
  }
  const crossed = Object.keys(changes)
    .map(Number)
    .filter((v) => cx.crosses(v))
    .sort((a, b) => a - b);
  const firstBreaking = crossed.find((v) => !changes[v]!.compatible);
  if (firstBreaking === undefined) return null;
  const upgrader = Object.hasOwn(UPGRADERS, n.opType) ? UPGRADERS[n.opType] : undefined;
  if (!upgrader) throw cx.unsupported(firstBreaking, changes[firstBreaking]!.note);
  return upgrader(n, cx);
}
