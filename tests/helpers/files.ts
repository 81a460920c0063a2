// Listing what a test wrote: every file under a folder.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Every file under `dir`, as `/`-separated paths relative to it, sorted (none when `dir` is absent). */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(dir, p).split(path.sep).join('/'));
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out.sort();
}
