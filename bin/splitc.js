#!/usr/bin/env node
// Entry point: the compiled CLI lives in dist/ (built by `npm install` via `prepare`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('error E_IO: splitc is not built (dist/ is missing)\n  hint: run `npm install` or `npm run build` in the splitc folder');
  process.exit(1);
}
await import(main.href);
