// Pass infrastructure: passes declare what they do, return {model, modified} honestly,
// and a manager runs them in sequence, verifying after each and (when asked) checking
// that each pass mutated only what it declared. Pipelines have a text form
// (`shape-infer{shape=x:1x3x48x192},cut{at=a+b}`) that prints back, so a failure can be replayed.

import { SplitcError, unknownName } from '../ir/errors.js';
import { Model } from '../ir/graph.js';
import { printModel } from '../ir/printer.js';
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

/** What a pass made: `model` is the unit it hands on (a Model, or a split of one: see modelsOf). */
export interface PassResult<T = Model> {
  model: T;
  modified: boolean;
}

/**
 * A transformation of a Model (or of what an earlier pass made of one, e.g. the cut's
 * edge/cloud split). In and Out differ only for passes that change the unit's kind.
 */
export interface Pass<In = Model, Out = In> {
  readonly name: string;
  /** Options as written in the pipeline text (for printing back); values decoded. */
  readonly options: Record<string, string>;
  /** true: mutates the given unit and returns it; false: leaves it untouched and returns a new one. */
  readonly inPlace: boolean;
  requires?(input: In): void;
  ensures?(output: Out): void;
  run(input: In, ctx: PassContext): PassResult<Out>;
}

/** A pass of any unit kinds: a pipeline's units change kind from pass to pass. */
export type AnyPass = Pass<any, any>;
export type PassFactory = (options: Record<string, string>) => AnyPass;
const registry = new Map<string, PassFactory>();

export function registerPass(name: string, factory: PassFactory): void {
  registry.set(name, factory);
}
export function registeredPasses(): string[] {
  return [...registry.keys()].sort();
}

/** The models a pipeline unit holds: a Model itself, or the edge and cloud of a split. */
export function modelsOf(unit: unknown): Model[] {
  if (unit instanceof Model) return [unit];
  const u = unit as { edge?: unknown; cloud?: unknown } | null;
  if (u && u.edge instanceof Model && u.cloud instanceof Model) return [u.edge, u.cloud];
  return [];
}

export interface RunOptions {
  /** Run the IR verifier after every pass (always on in tests). */
  verify?: boolean;
  /**
   * Check every pass against its `inPlace` declaration: a pass that is not in place must leave
   * its input's printed form unchanged; one that is must return the object it was given.
   */
  checkInPlace?: boolean;
  /** Repeat the whole pipeline until no pass modifies the model (at most this many rounds; for pipelines whose passes all take and give a Model). */
  fixedPointRounds?: number;
}

/**
 * How commands run their pipelines: verified after every pass, inPlace declarations checked.
 * The check prints a model twice per pass that is not in place: ~6 ms each for the largest
 * fixture (PP-OCRv4 rec, 765 nodes), noise next to a split's seconds.
 */
export const CHECKED_RUN: Readonly<RunOptions> = { verify: true, checkInPlace: true };

/** Where a failure escaped a pass manager: the pass and the pipeline that replays it. */
export interface PassFailure {
  pass: string;
  pipeline: string;
}

/** The pass and pipeline text a manager attached to an error that escaped it (undefined: none). */
export function passFailureOf(e: unknown): PassFailure | undefined {
  const f = e as Partial<PassFailure> | null;
  return f && typeof f === 'object' && typeof f.pipeline === 'string' && typeof f.pass === 'string' ? { pass: f.pass, pipeline: f.pipeline } : undefined;
}

/** The text the inPlace check compares: the printer's form of every model a unit holds. */
function fingerprint(unit: unknown): string {
  return modelsOf(unit).map(printModel).join('\n');
}

export class PassManager<In = Model, Out = In> {
  constructor(
    readonly passes: readonly AnyPass[],
    readonly options: RunOptions = {},
  ) {}

  /** The pipeline's text form: parsePipeline(pm.pipeline) replays it. */
  get pipeline(): string {
    return printPipeline(this.passes);
  }

  run(input: In, ctx = new PassContext()): PassResult<Out> {
    let unit: unknown = input;
    let modifiedAny = false;
    const rounds = this.options.fixedPointRounds ?? 1;
    for (let round = 0; round < rounds; round++) {
      let modifiedRound = false;
      for (const p of this.passes) {
        try {
          unit = this.runOne(p, unit, ctx, (m) => (modifiedRound ||= m));
        } catch (e) {
          // keep the error (its code, message and stack); say which pass and pipeline replay it
          if (e instanceof Error && !passFailureOf(e)) Object.assign(e, { pass: p.name, pipeline: this.pipeline } satisfies PassFailure);
          throw e;
        }
      }
      modifiedAny ||= modifiedRound;
      if (!modifiedRound) break;
    }
    return { model: unit as Out, modified: modifiedAny };
  }

  private runOne(p: AnyPass, input: unknown, ctx: PassContext, modified: (m: boolean) => void): unknown {
    const check = this.options.checkInPlace === true;
    const before = check && !p.inPlace ? fingerprint(input) : undefined;
    p.requires?.(input);
    const r = p.run(input, ctx);
    modified(r.modified);
    if (check) {
      if (p.inPlace && r.model !== input) this.broken(p, 'declares inPlace: true but returned another object than it was given');
      if (!p.inPlace && fingerprint(input) !== before) this.broken(p, 'declares inPlace: false but changed the model it was given');
    }
    p.ensures?.(r.model);
    if (this.options.verify) {
      try {
        for (const m of modelsOf(r.model)) assertValid(m);
      } catch (e) {
        if (e instanceof SplitcError) {
          throw new SplitcError(e.code, `after pass '${p.name}': ${e.message}`, { location: e.location ?? '', hint: `replay with the pipeline ${this.pipeline}`, cause: e });
        }
        throw e;
      }
    }
    return r.model;
  }

  private broken(p: AnyPass, what: string): never {
    throw new SplitcError('E_VERIFY', `pass '${p.name}' ${what}`, { hint: `a bug in the pass; replay with the pipeline ${this.pipeline}` });
  }
}

// Option values may hold any character: these are written %XX in pipeline text.
const RESERVED = /[%,;{}]/g;
const escapeValue = (v: string): string => v.replace(RESERVED, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
const unescapeValue = (v: string): string => v.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));

/** Parse `a,b{k=v;k2=v2},c` into passes. Option values write `%,;{}` as `%25 %2C %3B %7B %7D`. */
export function parsePipeline(text: string): AnyPass[] {
  const passes: AnyPass[] = [];
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
      opts[kv.slice(0, eq).trim()] = unescapeValue(kv.slice(eq + 1).trim());
    }
    const factory = registry.get(name);
    if (!factory) {
      throw unknownName('pass', name, registeredPasses());
    }
    passes.push(factory(opts));
  }
  if (pos < text.trim().length) {
    throw new SplitcError('E_BAD_ARGUMENT', `cannot parse pipeline at '${text.slice(pos)}'`, { hint: 'write passes as name{key=value},name2' });
  }
  return passes;
}

export function printPipeline(passes: readonly AnyPass[]): string {
  return passes
    .map((p) => {
      const opts = Object.entries(p.options);
      return opts.length ? `${p.name}{${opts.map(([k, v]) => `${k}=${escapeValue(v)}`).join(';')}}` : p.name;
    })
    .join(',');
}

/** A list option (`at=a+b`): items joined by `+`, a `+` or `%` inside an item written %2B / %25. */
export function formatListOption(items: readonly string[]): string {
  return items.map((s) => s.replace(/[%+]/g, (c) => (c === '%' ? '%25' : '%2B'))).join('+');
}
export function parseListOption(text: string): string[] {
  return text
    .split('+')
    .filter((s) => s !== '')
    .map((s) => s.replace(/%(2B|25)/gi, (c) => (c === '%25' ? '%' : '+')));
}

/** Reject options a pass does not take (E_BAD_ARGUMENT naming the pass and what it takes). */
export function checkPassOptions(pass: string, options: Record<string, string>, known: readonly string[], takes: string): void {
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) throw new SplitcError('E_BAD_ARGUMENT', `unknown option '${k}' of pass '${pass}'`, { hint: `${pass} takes ${takes}` });
  }
}
