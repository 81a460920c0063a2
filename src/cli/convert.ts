// `splitc convert`: read a model into the IR and write it back (optionally hoisting
// Constant-node weights to initializers and moving large tensors to external data).

import * as path from 'node:path';
import { loadModel, saveModel, type SaveResult } from '../ir/serde/io.js';
import { assertValid } from '../ir/verify.js';
import { hoistConstantsPass } from '../passes/hoist-constants.js';
import { CHECKED_RUN, PassManager } from '../passes/pass.js';

export interface ConvertOptions {
  externalDataThreshold?: number;
  hoistConstants?: boolean;
}

export function convertModel(input: string, output: string, opts: ConvertOptions = {}): SaveResult & { hoisted: boolean } {
  const model = loadModel(input);
  assertValid(model);
  let hoisted = false;
  if (opts.hoistConstants) {
    hoisted = new PassManager([hoistConstantsPass()], CHECKED_RUN).run(model).modified;
  }
  const result = saveModel(model, output, {
    ...(opts.externalDataThreshold !== undefined ? { externalDataThreshold: opts.externalDataThreshold } : {}),
    externalDataName: `${path.basename(output)}.data`,
  });
  return { ...result, hoisted };
}
