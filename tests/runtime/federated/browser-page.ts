// The set-up both federated browser tests share: a static server for `page` (its HTML), the
// compiled closure of the browser-safe client under it and onnxruntime-web's dist at /ort/, and
// one headless Chromium; started before the suite's tests, closed after them.

import type * as http from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { copyRuntimeModules } from '../../../src/codegen/runtime-files.js';
import { launchChromium, ORT_WEB_DIST, startPageServer } from '../../helpers/chromium.js';

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
