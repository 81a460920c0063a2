// Debian's chromium for the browser tests (driven by playwright-core), or undefined when absent.
import { execFileSync } from 'node:child_process';

export function chromiumPath(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
