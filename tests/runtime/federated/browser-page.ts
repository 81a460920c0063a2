// The set-up both federated browser tests share: a static server for `page` (its HTML), the
// compiled closure of the browser-safe client under it and onnxruntime-web's dist at /ort/, and
// one headless Chromium; started before the suite's tests, closed after them.

import type * as http from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { copyRuntimeModules } from '../../../src/codegen/runtime-files.js';
import { launchChromium, ORT_WEB_DIST, startPageServer } from '../../helpers/chromium.js';
import { toyDataFrom } from '../train/toy-data.js';

/**
 * The client page: onnxruntime-web through an import map, splitc's compiled client closure,
 * toyData built from toyDataFrom's own source and the same generator (ir/random's xorshift32)
 * so the Node side can recompute what the page trains on, and `window.join = async (url, token,
 * client, n, seed) => { <join> }`, which has `ort`, `runFederatedClient` and `toyData` in scope.
 */
export function federatedClientPage(title: string, join: string): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${title}</title><link rel="icon" href="data:,">
<script type="importmap">{ "imports": { "onnxruntime-web": "/ort/ort.bundle.min.mjs" } }</script>
</head><body>
<script type="module">
  import * as ort from 'onnxruntime-web';
  import { runFederatedClient } from '/lib/runtime/federated/client.js';
  import { xorshift32 } from '/lib/ir/random.js';
  ort.env.wasm.numThreads = 1;
  ${toyDataFrom.toString()}
  const toyData = (n, seed) => toyDataFrom(xorshift32(seed), n);
  window.join = async (url, token, client, n, seed) => {
${join}
  };
  window.ready = true;
</script></body></html>`;
}

export interface FederatedPage {
  readonly browser: Browser;
  /** The page server's origin (not the coordinator's: the page calls it cross-origin). */
  readonly origin: string;
}

/** Registers beforeAll/afterAll hooks in the calling suite; read the fields inside tests. */
export function useFederatedPage(page: string, executablePath: string): FederatedPage {
  let browser: Browser | undefined;
  let served: { server: http.Server; origin: string } | undefined;
  beforeAll(async () => {
    const { files } = copyRuntimeModules(['runtime/federated/client', 'ir/random'], { declarations: false });
    served = await startPageServer(page, { '/ort/': ORT_WEB_DIST }, files);
    browser = await launchChromium(executablePath);
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => served?.server.close(r));
  });
  return {
    get browser() {
      return browser!;
    },
    get origin() {
      return served!.origin;
    },
  };
}
