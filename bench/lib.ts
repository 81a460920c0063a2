// Shared pieces of the benchmark scripts: seeded inputs and splitc servers in child processes.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The value after `--name` on the command line, or `dflt`. */
export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

/**
 * The entries of `all` whose file stem (name without .onnx) is listed in `names` (comma-separated,
 * the value of a script's `--models`), in the order of `all`; every entry when `names` is empty.
 * An unknown name is an error that lists the known ones.
 */
export function selectModels<T extends { file: string }>(all: readonly T[], names: string): T[] {
  const stem = (file: string): string => file.replace(/\.onnx$/, '');
  const wanted = names.split(',').map((n) => n.trim()).filter(Boolean);
  if (wanted.length === 0) return [...all];
  const unknown = wanted.filter((n) => !all.some((e) => stem(e.file) === n));
  if (unknown.length) throw new Error(`--models: unknown ${unknown.join(', ')}; known: ${all.map((e) => stem(e.file)).join(', ')}`);
  return all.filter((e) => wanted.includes(stem(e.file)));
}

/** n seeded uniform floats in [lo, hi) (xorshift32). */
export function seededFloats(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = lo + ((s >>> 0) / 4294967296) * (hi - lo);
  }
  return a;
}

export interface ServerChild {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** The child's process id (for `splitc serve`, the launcher: see serverPid). */
  pid: number;
  /** SIGTERM, resolves with the exit code once it has exited. */
  stop(): Promise<number | null>;
}

/** Starts `node <args…>` (a splitc server) and resolves once it prints the URL it serves at. */
export function startServerChild(args: string[], opts: { cwd?: string } = {}): Promise<ServerChild> {
  const child = spawn(process.execPath, args, { ...(opts.cwd ? { cwd: opts.cwd } : {}), stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = (): Promise<number | null> =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve(child.exitCode);
      child.once('exit', (code) => resolve(code));
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = / at (http:\/\/[^\s/]+)\/v2/.exec(out);
      if (m) resolve({ url: m[1]!, pid: child.pid!, stop });
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
}

/** The process that serves under a `splitc serve` launcher (it relaunches itself once; docs/serving.md), else `pid`. */
export function serverPid(pid: number): number {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.length ? Number(kids[0]) : pid;
  } catch {
    return pid;
  }
}

/** Resident and peak resident bytes of a process (Linux /proc). */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)![1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}
