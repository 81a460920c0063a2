// Debian's chromium for the browser tests (driven by playwright-core), or undefined when absent,
// and the static server their pages load from.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { repoRoot } from './fixtures.js';

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

/** onnxruntime-web's dist folder, which the browser tests' pages map `onnxruntime-web` to (under /ort/). */
export const ORT_WEB_DIST = path.join(repoRoot, 'node_modules/onnxruntime-web/dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.json': 'application/json',
};

/**
 * A static server on 127.0.0.1 for a browser test: `page` (HTML) at / and /index.html, the
 * JavaScript modules `modules` has (by path without the leading slash), and the files below each
 * folder of `mounts` (URL prefix such as '/ort/' → folder); anything else, or outside a folder, is 404.
 */
export function startPageServer(page: string, mounts: Record<string, string>, modules: ReadonlyMap<string, string> = new Map()): Promise<{ server: http.Server; origin: string }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/' || url.pathname === '/index.html') {
      res.writeHead(200, { 'Content-Type': TYPES['.html']! });
      res.end(page);
      return;
    }
    const rel = decodeURIComponent(url.pathname);
    const text = modules.get(rel.slice(1));
    if (text !== undefined) {
      res.writeHead(200, { 'Content-Type': TYPES['.js']! });
      res.end(text);
      return;
    }
    const prefix = Object.keys(mounts).find((p) => rel.startsWith(p));
    const base = prefix === undefined ? undefined : path.resolve(mounts[prefix]!);
    const file = base === undefined ? undefined : path.resolve(base, rel.slice(prefix!.length));
    if (!file || !file.startsWith(base + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
}
