// The learned inverse network (He, Zhang & Lee, ACSAC 2019, the black-box attacker): the attacker
// runs the edge part on auxiliary inputs of its own (disjoint from the private ones), trains a
// decoder z → x on the pairs (mean squared error, Adam, the project's Trainer), then reconstructs
// every observed z in one forward pass. The decoder is generated from the target's shapes
// (inverse-net.ts): it mirrors the edge part's resolution changes back to the input's H×W.

import { SplitcError } from '../ir/errors.js';
import { epochOrder } from '../runtime/train/fit.js';
import { applyInverse, createSession, featureDistances, inverseModel, type InverseSpec, rows, runStacked, stack, type Stack, targetBatch, trainOnStreams } from './inverse-net.js';
import type { Attack, AttackContext, AttackResult, AttackTarget, Budget, Probe } from './types.js';

export interface DecoderOptions {
  /** Auxiliary samples used (at most; a seeded subset when the set is larger). */
  auxSamples: number;
  epochs: number;
  batch: number;
  /** Adam's peak learning rate (cosine decay to 0 after a short warm-up). */
  lr: number;
  /** Widest layer of the decoder. */
  maxWidth: number;
}

/** Training size per budget: `fast` is a few seconds for the Fashion-MNIST ResNet on 2 cores. */
export const DECODER_BUDGETS: Record<Budget, DecoderOptions> = {
  fast: { auxSamples: 512, epochs: 2, batch: 32, lr: 3e-3, maxWidth: 32 },
  standard: { auxSamples: 2048, epochs: 5, batch: 32, lr: 2e-3, maxWidth: 64 },
  thorough: { auxSamples: 8192, epochs: 10, batch: 64, lr: 2e-3, maxWidth: 64 },
};

const OUTPUT = 'xhat';
const TARGET = 'x';
const inputName = (i: number): string => `z${i}`;

function skipped(started: number, code: string, message: string): AttackResult {
  return { attack: 'decoder', reconstructions: [], featureDistance: [], skipped: { code, message }, details: {}, seconds: (performance.now() - started) / 1000 };
}

export async function runDecoder(target: AttackTarget, probes: Probe[], ctx: AttackContext, override: Partial<DecoderOptions> = {}): Promise<AttackResult> {
  const started = performance.now();
  const o = { ...DECODER_BUDGETS[ctx.budget], ...override };
  const aux = ctx.aux;
  if (!aux || aux.samples.length === 0) {
    return skipped(started, 'W_AUDIT_NO_AUX', 'the learned decoder trains on auxiliary inputs; none were given (--aux <dir|.npy>)');
  }
  // a seeded subset of the auxiliary inputs
  const order = epochOrder(aux.samples.length, ctx.seed, 0);
  const n = Math.min(o.auxSamples, aux.samples.length);
  const x: Stack = stack(Array.from({ length: n }, (_, i) => aux.samples[order[i]!]!), target.inputDims);
  const batch = Math.min(o.batch, n);

  // what the edge part sends for each of them: as deployed, defences' draws included (the
  // defence ships in the public edge graph, so the attacker trains on what it will observe)
  const observer = target.observer ?? target.model;
  const names = observer.graph.outputs.map((v) => v.name);
  const session = await createSession(observer, ctx.threads);
  let z: Stack[];
  try {
    z = await runStacked(session, target.input, x, names, targetBatch(target, 64), (done) => ctx.onProgress?.({ phase: 'decoder: features', done, total: n }));
  } finally {
    await session.release();
  }

  const spec: InverseSpec = { inputs: target.observed.map((v) => v.dims), output: target.inputDims, activation: { kind: 'range', range: target.range }, maxWidth: o.maxWidth };
  const inputNames = target.observed.map((_, i) => inputName(i));
  const untrained = inverseModel(spec, { prefix: 'decoder', inputNames, output: OUTPUT, seed: ctx.seed });
  const feeds: Record<string, Stack> = { [TARGET]: x };
  z.forEach((s, i) => (feeds[inputName(i)] = s));
  const trained = await trainOnStreams({
    model: untrained.model,
    loss: `mse:${OUTPUT}=${TARGET}`,
    params: untrained.params,
    optimizer: { kind: 'adam', lr: o.lr },
    streams: [{ feeds, batch }],
    epochs: o.epochs,
    seed: ctx.seed,
    threads: ctx.threads,
    onStep: (done, total) => ctx.onProgress?.({ phase: 'decoder: training', done, total }),
  });

  // reconstruct every probe in one forward pass
  const decoder = inverseModel(spec, { prefix: 'decoder', inputNames, output: OUTPUT, trained: trained.params, seed: ctx.seed });
  const observed: Record<string, Stack> = {};
  target.observed.forEach((v, i) => {
    observed[inputName(i)] = stack(
      probes.map((p) => {
        if (!p.z[i]) throw new SplitcError('E_AUDIT', `probe '${p.id}' has no value for '${v.name}'`);
        return p.z[i]!;
      }),
      v.dims,
    );
  });
  const reconstructions = probes.length ? rows(await applyInverse(decoder.model, observed, OUTPUT, ctx.threads)) : [];
  const featureDistance = probes.length ? await featureDistances(target, reconstructions, probes, ctx.threads) : [];
  return {
    attack: 'decoder',
    reconstructions,
    featureDistance,
    details: {
      auxSamples: n,
      epochs: o.epochs,
      batch,
      steps: trained.steps,
      lr: o.lr,
      parameters: untrained.params.reduce((a, p) => a + trained.params.get(p)!.length, 0),
      finalLoss: trained.loss,
    },
    seconds: (performance.now() - started) / 1000,
  };
}

export const decoderAttack: Attack = { name: 'decoder', run: (target, probes, ctx) => runDecoder(target, probes, ctx) };
