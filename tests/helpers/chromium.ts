// Debian's chromium for the browser tests (driven by playwright-core), or undefined when absent.
import { execFileSync } from 'node:child_process';

export function chromiumPath(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The flags every browser test launches Chromium with (headless, no sandbox, nothing fetched in the background). */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Launch Debian's chromium headless with CHROMIUM_ARGS (callers skip when chromiumPath() is undefined). */
export async function launchChromium(executablePath: string): Promise<import('playwright-core').Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

/** A page that records console errors, page errors and every request it makes. */
export async function watchedPage(browser: import('playwright-core').Browser, viewport: { width: number; height: number }) {
  const tab = await browser.newPage({ viewport });
  const errors: string[] = [];
  const requests: string[] = [];
  tab.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  tab.on('pageerror', (e) => errors.push(String(e)));
  tab.on('request', (r) => requests.push(r.url()));
  return { tab, errors, requests };
}
