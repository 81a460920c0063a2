// Results of an attack on a cut, cached by everything that decides them: the model's bytes,
// the cut, the compression constants, the attack and its budget, the probes (and auxiliary
// data), the seed. One file per result: a JSON header line, then the reconstructions as
// float32. Written to a temporary name and renamed, so a crash never leaves half a file.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AttackResult } from './types.js';
import { writeFileAtomic } from '../ir/temp-files.js';

/** Bumped when what an attack computes changes: old entries are then never read. */
export const CACHE_VERSION = 1;

/** ~/.cache/splitc/<kind> (or $XDG_CACHE_HOME/splitc/<kind>): where splitc keeps results it can recompute. */
export function splitcCacheDir(kind: string): string {
  const base = process.env.XDG_CACHE_HOME && path.isAbsolute(process.env.XDG_CACHE_HOME) ? process.env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(base, 'splitc', kind);
}

export function defaultCacheDir(): string {
  return splitcCacheDir('audit');
}

export function cacheKey(parts: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify({ v: CACHE_VERSION, ...parts })).digest('hex');
}

export function readCached(dir: string, key: string): AttackResult | null {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path.join(dir, `${key}.bin`));
  } catch {
    return null;
  }
  const nl = bytes.indexOf(10);
  if (nl < 0) return null;
  try {
    const head = JSON.parse(bytes.subarray(0, nl).toString('utf8')) as Omit<AttackResult, 'reconstructions'> & { lengths: number[] };
    const body = bytes.subarray(nl + 1);
    const floats = new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
    const total = head.lengths.reduce((a, n) => a + n, 0);
    if (floats.length !== total) return null;
    const reconstructions: Float32Array[] = [];
    let at = 0;
    for (const n of head.lengths) {
      reconstructions.push(floats.slice(at, at + n));
      at += n;
    }
    const { lengths: _lengths, ...rest } = head;
    return { ...rest, reconstructions };
  } catch {
    return null; // an unreadable entry is a miss, never an error
  }
}

export function writeCached(dir: string, key: string, result: AttackResult): void {
  const { reconstructions, ...rest } = result;
  const head = Buffer.from(`${JSON.stringify({ ...rest, lengths: reconstructions.map((r) => r.length) })}\n`, 'utf8');
  const body = Buffer.concat(reconstructions.map((r) => Buffer.from(r.buffer, r.byteOffset, r.byteLength)));
  writeFileAtomic(path.join(dir, `${key}.bin`), [head, body], { what: `the audit cache entry in ${dir}` });
}
