// Records which files the process touches while tracking is on: `node:fs`'s open, read,
// stat, list and write functions are wrapped once (on the module object, then pushed to the
// ESM namespace with syncBuiltinESMExports, so product code's `import * as fs` sees them).
// Each access is resolved the way the OS would (symbolic links followed, loops and dangling
// links resolved by hand), so a read through a link that leads elsewhere is reported there.

import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';

export type AccessKind = 'read' | 'write';

export interface Access {
  kind: AccessKind;
  op: string;
  /** The path as passed (or `fd:N` for an unknown descriptor). */
  path: string;
  /** Where it leads: symbolic links resolved; for lstat/rename/rm the link itself. */
  real: string;
}

let current: Access[] | null = null;
let busy = false;
const fdTargets = new Map<number, { path: string; real: string; kind: AccessKind }>();

/** The file `p` would open: realpath, or, when that fails (missing, loop), a hand-walk of the links. */
export function resolveTarget(p: string, depth = 0): string {
  const abs = path.resolve(p);
  try {
    return fs.realpathSync(abs);
  } catch {
    // fall through
  }
  const parent = path.dirname(abs);
  if (parent === abs || depth > 40) return abs;
  const here = path.join(resolveTarget(parent, depth + 1), path.basename(abs));
  let link: string;
  try {
    link = fs.readlinkSync(here);
  } catch {
    return here; // missing, or not a link
  }
  return resolveTarget(path.resolve(path.dirname(here), link), depth + 1);
}

/** The entry itself (its folder resolved, its last component not followed). */
function resolveEntry(p: string): string {
  const abs = path.resolve(p);
  return path.join(resolveTarget(path.dirname(abs)), path.basename(abs));
}

function asPath(p: unknown): string | null {
  if (typeof p === 'string') return p.includes('\0') ? null : p;
  if (Buffer.isBuffer(p)) return asPath(p.toString('utf8'));
  if (p instanceof URL) return p.protocol === 'file:' ? decodeURIComponent(p.pathname) : null;
  return null;
}

function record(kind: AccessKind, op: string, p: unknown, follow = true): void {
  if (!current || busy) return;
  busy = true;
  try {
    if (typeof p === 'number') {
      const t = fdTargets.get(p);
      current.push(t ? { kind, op, path: t.path, real: t.real } : { kind, op, path: `fd:${p}`, real: `fd:${p}` });
      return;
    }
    const s = asPath(p);
    // a path node:fs refuses (NUL byte, wrong type) reaches no file
    if (s === null) return;
    current.push({ kind, op, path: s, real: follow ? resolveTarget(s) : resolveEntry(s) });
  } finally {
    busy = false;
  }
}

function flagsKind(flags: unknown): AccessKind {
  if (flags === undefined || flags === null) return 'read';
  if (typeof flags === 'number') return (flags & (fs.constants.O_WRONLY | fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC)) ? 'write' : 'read';
  return /[wa+]/.test(String(flags)) ? 'write' : 'read';
}

type AnyFn = (...args: unknown[]) => unknown;
const target = fs as unknown as Record<string, AnyFn>;
const promises = fs.promises as unknown as Record<string, AnyFn>;

function wrap(obj: Record<string, AnyFn>, name: string, before: (args: unknown[]) => void, after?: (result: unknown, args: unknown[]) => void): void {
  const orig = obj[name];
  if (typeof orig !== 'function') return;
  obj[name] = function (this: unknown, ...args: unknown[]) {
    // only the outermost call counts (readFileSync calls openSync and readSync itself)
    if (nested > 0) return orig.apply(this, args);
    before(args);
    nested++;
    let result: unknown;
    try {
      result = orig.apply(this, args);
    } finally {
      nested--;
    }
    after?.(result, args);
    return result;
  };
}

let installed = false;
let nested = 0;

/** Wrap node:fs (once per process). Nothing is recorded until `trackAccesses` runs. */
export function installReadTracker(): void {
  if (installed) return;
  installed = true;
  const rememberFd = (fd: unknown, args: unknown[]): void => {
    if (typeof fd !== 'number' || !current) return;
    const p = asPath(args[0]);
    if (p !== null) fdTargets.set(fd, { path: p, real: resolveTarget(p), kind: flagsKind(args[1]) });
  };
  wrap(target, 'openSync', (a) => record(flagsKind(a[1]), 'openSync', a[0]), rememberFd);
  wrap(target, 'closeSync', (a) => void fdTargets.delete(a[0] as number));
  wrap(target, 'readFileSync', (a) => record('read', 'readFileSync', a[0]));
  for (const op of ['readSync', 'readvSync']) wrap(target, op, (a) => record('read', op, a[0]));
  for (const op of ['writeSync', 'writevSync']) wrap(target, op, (a) => record('write', op, a[0]));
  for (const op of ['statSync', 'readdirSync', 'opendirSync', 'createReadStream', 'readFile', 'stat', 'readdir', 'opendir']) wrap(target, op, (a) => record('read', op, a[0]));
  wrap(target, 'lstatSync', (a) => record('read', 'lstatSync', a[0], false));
  wrap(target, 'open', (a) => record(flagsKind(typeof a[1] === 'function' ? undefined : a[1]), 'open', a[0]));
  wrap(target, 'copyFileSync', (a) => {
    record('read', 'copyFileSync', a[0]);
    record('write', 'copyFileSync', a[1], false);
  });
  wrap(target, 'renameSync', (a) => {
    record('write', 'renameSync', a[0], false);
    record('write', 'renameSync', a[1], false);
  });
  for (const op of ['writeFileSync', 'appendFileSync', 'truncateSync', 'createWriteStream', 'writeFile']) wrap(target, op, (a) => record('write', op, a[0]));
  for (const op of ['rmSync', 'unlinkSync', 'rmdirSync', 'mkdirSync', 'symlinkSync', 'linkSync']) wrap(target, op, (a) => record('write', op, op === 'symlinkSync' || op === 'linkSync' ? a[1] : a[0], false));
  wrap(promises, 'open', (a) => record(flagsKind(a[1]), 'promises.open', a[0]));
  for (const op of ['readFile', 'stat', 'readdir', 'opendir']) wrap(promises, op, (a) => record('read', `promises.${op}`, a[0]));
  for (const op of ['writeFile', 'rename', 'rm', 'unlink', 'mkdir']) wrap(promises, op, (a) => record('write', `promises.${op}`, a[0], false));
  syncBuiltinESMExports();
}

/** Start recording into a fresh list (returned); `stopTracking` ends it. */
export function startTracking(): Access[] {
  installReadTracker();
  current = [];
  return current;
}

export function stopTracking(): void {
  current = null;
}

/** Run `fn` (synchronous) and return what it accessed; its exception, if any, is rethrown after. */
export function trackAccesses<T>(fn: () => T): { result: T; accesses: Access[] } {
  const accesses = startTracking();
  try {
    return { result: fn(), accesses };
  } finally {
    stopTracking();
  }
}

/** Whether `real` (a resolved path) is `root` or lies under it. */
export function isInside(real: string, root: string): boolean {
  const rel = path.relative(root, real);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * Accesses that break the rule: reads must stay inside one of `readRoots`, writes inside one of
 * `writeRoots` (roots given as resolved paths).
 */
export function strayAccesses(accesses: readonly Access[], readRoots: readonly string[], writeRoots: readonly string[]): Access[] {
  return accesses.filter((a) => !(a.kind === 'read' ? readRoots : writeRoots).some((r) => isInside(a.real, r)));
}
