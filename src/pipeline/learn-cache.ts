// Trained bottleneck weights (and fine-tuned cloud weights) kept on disk, keyed by everything
// training depends on (model bytes, cut, spec, training data, seed, schedule, --tune-cloud),
// so `plan` trains a learned candidate once and `build` reuses what the plan measured. Training is deterministic for a key, so a hit is
// exactly what training again would give; a missing or unreadable entry means training again.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { splitcCacheDir } from '../audit/cache.js';
import { writeFileAtomic } from '../ir/temp-files.js';
import type { LearnedWeights } from '../passes/bottleneck/learned.js';
import type { LearnResult } from './learn.js';

const CACHE_VERSION = 3;

/** ~/.cache/splitc/learned (or $XDG_CACHE_HOME/splitc/learned). */
export function defaultLearnedCacheDir(): string {
  return splitcCacheDir('learned');
}

export interface LearnedCacheKey {
  modelSha256: string;
  cut: readonly string[];
  spec: string;
  dataSha256: string;
  seed: number;
  epochs: number;
  batchSize: number | null;
  lr: number;
  tuneCloud: number;
}

export function learnedCacheKey(k: LearnedCacheKey): string {
  const parts = { v: CACHE_VERSION, ...k, cut: [...k.cut].sort() };
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

type Stored = Omit<LearnResult, 'weights' | 'tuned'> & { weights: Record<string, Record<'reduce' | 'recover', { weight: string; bias: string }>>; tuned: Record<string, string> };

const encode = (a: ArrayLike<number>): string => Buffer.from(Float32Array.from(a).buffer).toString('base64');
function decode(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  const out = new Float32Array(b.length / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

const fileOf = (dir: string, key: string): string => path.join(dir, `${key}.json`);

/** The cached result for `key`, or undefined (absent, unreadable or of another format: train again). */
export function readLearned(dir: string, key: string): LearnResult | undefined {
  let stored: Stored;
  try {
    stored = JSON.parse(fs.readFileSync(fileOf(dir, key), 'utf8')) as Stored;
  } catch {
    return undefined;
  }
  if (!stored || typeof stored !== 'object' || !stored.weights || !stored.tuned || !Array.isArray(stored.history) || typeof stored.usedLabels !== 'boolean') return undefined;
  const weights: Record<string, LearnedWeights> = {};
  for (const [name, w] of Object.entries(stored.weights)) {
    weights[name] = {
      reduce: { weight: decode(w.reduce.weight), bias: decode(w.reduce.bias) },
      recover: { weight: decode(w.recover.weight), bias: decode(w.recover.bias) },
    };
  }
  const tuned = Object.fromEntries(Object.entries(stored.tuned).map(([n, v]) => [n, decode(v)]));
  return { ...stored, weights, tuned };
}

export function writeLearned(dir: string, key: string, r: LearnResult): void {
  const weights: Stored['weights'] = {};
  for (const [name, w] of Object.entries(r.weights)) {
    weights[name] = {
      reduce: { weight: encode(w.reduce.weight), bias: encode(w.reduce.bias) },
      recover: { weight: encode(w.recover.weight), bias: encode(w.recover.bias) },
    };
  }
  const tuned = Object.fromEntries(Object.entries(r.tuned).map(([n, v]) => [n, encode(v)]));
  fs.mkdirSync(dir, { recursive: true });
  writeFileAtomic(fileOf(dir, key), JSON.stringify({ ...r, weights, tuned } satisfies Stored), { what: 'learned bottleneck cache entry' });
}
