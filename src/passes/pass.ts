// Pass infrastructure: passes declare what they do, return {model, modified} honestly,
// and a manager runs them in sequence (verifying after each in tests). Pipelines have
// a text form (`shape-infer{shape=x:1x3x48x192},hoist-constants`) that prints back.

import { SplitcError } from '../ir/errors.js';
import type { Model } from '../ir/graph.js';
import { assertValid } from '../ir/verify.js';

export interface Diagnostic {
  level: 'warning' | 'info';
  code: string;
  message: string;
  location?: string;
}

export class PassContext {
  readonly diagnostics: Diagnostic[] = [];
  warn(code: string, message: string, location?: string): void {
    this.diagnostics.push({ level: 'warning', code, message, ...(location ? { location } : {}) });
  }
  info(code: string, message: string, location?: string): void {
    this.diagnostics.push({ level: 'info', code, message, ...(location ? { location } : {}) });
  }
}

export interface PassResult {
  model: Model;
  modified: boolean;
}

export interface Pass {
  readonly name: string;
  /** Options as written in the pipeline text (for printing back). */
  readonly options: Record<string, string>;
  /** true: mutates the given model; false: returns a new one. */
  readonly inPlace: boolean;
  requires?(model: Model): void;
  ensures?(model: Model): void;
  run(model: Model, ctx: PassContext): PassResult;
}

export type PassFactory = (options: Record<string, string>) => Pass;
const registry = new Map<string, PassFactory>();

export function registerPass(name: string, factory: PassFactory): void {
  registry.set(name, factory);
}
export function registeredPasses(): string[] {
  return [...registry.keys()].sort();
}

export interface RunOptions {
  /** Run the IR verifier after every pass (always on in tests). */
  verify?: boolean;
  /** Repeat the whole pipeline until no pass modifies the model (at most this many rounds). */
  fixedPointRounds?: number;
}

export class PassManager {
  constructor(
    readonly passes: Pass[],
    readonly options: RunOptions = {},
  ) {}

  run(model: Model, ctx = new PassContext()): PassResult {
    let modifiedAny = false;
    const rounds = this.options.fixedPointRounds ?? 1;
    for (let round = 0; round < rounds; round++) {
      let modifiedRound = false;
      for (const p of this.passes) {
        p.requires?.(model);
        const r = p.run(model, ctx);
        model = r.model;
        modifiedRound ||= r.modified;
        p.ensures?.(model);
        if (this.options.verify) {
          try {
            assertValid(model);
          } catch (e) {
            if (e instanceof SplitcError) {
              throw new SplitcError(e.code, `after pass '${p.name}': ${e.message}`, { location: e.location ?? '', cause: e });
            }
            throw e;
          }
        }
      }
      modifiedAny ||= modifiedRound;
      if (!modifiedRound) break;
    }
    return { model, modified: modifiedAny };
  }
}

/** Parse `a,b{k=v;k2=v2},c` into passes. Option values may not contain `,{};`. */
export function parsePipeline(text: string): Pass[] {
  const passes: Pass[] = [];
  const re = /\s*([a-z][a-z0-9-]*)\s*(?:\{([^}]*)\})?\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while (pos < text.length && (m = re.exec(text))) {
    if (m[0].length === 0) break;
    pos = re.lastIndex;
    const name = m[1]!;
    const opts: Record<string, string> = {};
    for (const kv of (m[2] ?? '').split(';').filter((s) => s.trim())) {
      const eq = kv.indexOf('=');
      if (eq < 0) throw new SplitcError('E_BAD_ARGUMENT', `pipeline option '${kv}' of pass '${name}' has no '='`, { hint: 'write options as {key=value;key2=value2}' });
      opts[kv.slice(0, eq).trim()] = kv.slice(eq + 1).trim();
    }
    const factory = registry.get(name);
    if (!factory) {
      throw new SplitcError('E_BAD_ARGUMENT', `unknown pass '${name}'`, { hint: `known passes: ${registeredPasses().join(', ')}` });
    }
    passes.push(factory(opts));
  }
  if (pos < text.trim().length) {
    throw new SplitcError('E_BAD_ARGUMENT', `cannot parse pipeline at '${text.slice(pos)}'`, { hint: 'write passes as name{key=value},name2' });
  }
  return passes;
}

export function printPipeline(passes: Pass[]): string {
  return passes
    .map((p) => {
      const opts = Object.entries(p.options);
      return opts.length ? `${p.name}{${opts.map(([k, v]) => `${k}=${v}`).join(';')}}` : p.name;
    })
    .join(',');
}
