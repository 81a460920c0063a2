// Temporary files are written next to their destination as `.<name>.splitc-tmp-<pid>-…` and
// renamed into place. A process killed mid-write (kill -9, power loss) leaves them behind;
// the next write to the same destination removes those whose writer is gone.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ioError } from './errors.js';

/** The prefix of every temporary file or folder written for `name` in its folder. */
export function tempPrefix(name: string): string {
  return `.${name}.splitc-tmp-`;
}

/** Whether a process with this id is running (one we may not signal counts as running). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Entries of `dir` named `<prefix><pid>…` whose process no longer runs (the current one and
 * names without a pid are never stale), as full paths.
 */
export function staleEntries(dir: string, prefix: string): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return entries
    .filter((entry) => {
      if (!entry.startsWith(prefix)) return false;
      const pid = Number.parseInt(entry.slice(prefix.length), 10);
      return Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid);
    })
    .sort()
    .map((entry) => path.join(dir, entry));
}

/**
 * Remove the temporary files and folders left in `dir` for `name` by processes that no longer
 * run. Only splitc's own temporary names are touched (never a user's file, never the hidden
 * copy of a replaced bundle). Returns the paths removed; never throws.
 */
export function removeStaleTemps(dir: string, name: string): string[] {
  const removed: string[] = [];
  for (const p of staleEntries(dir, tempPrefix(name))) {
    try {
      fs.rmSync(p, { recursive: true, force: true });
      removed.push(p);
    } catch {
      // another process may be cleaning it up at the same time
    }
  }
  return removed;
}

/**
 * Writes `data` to `file` through a temporary file in the same folder and a rename, so a
 * reader never sees half a file and a failed write leaves the old one in place. Stale
 * temporaries of `file` from killed writers are removed first. Throws E_IO naming `what`
 * (default: the file), with `hint` when given.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array | readonly Uint8Array[], opts: { what?: string; hint?: string } = {}): void {
  const dir = path.dirname(path.resolve(file));
  const name = path.basename(file);
  const tmp = path.join(dir, `${tempPrefix(name)}${process.pid}-${Date.now()}`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    removeStaleTemps(dir, name);
    if (typeof data === 'string' || data instanceof Uint8Array) fs.writeFileSync(tmp, data);
    else {
      const fd = fs.openSync(tmp, 'w');
      try {
        for (const part of data) fs.writeSync(fd, part);
      } finally {
        fs.closeSync(fd);
      }
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    // the clean-up must not replace the error: where `dir` is a file it throws ENOTDIR itself
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // nothing was written there
    }
    throw ioError(`cannot write ${opts.what ?? file}`, e, opts.hint);
  }
}
