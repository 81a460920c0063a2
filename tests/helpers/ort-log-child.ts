// Child process for the onnxruntime log tests: creates one kind of splitc session on a model
// file with the caller's defaults and prints "ok"; the parent reads what reached stderr.
import * as fs from 'node:fs';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../../src/ir/serde/io.js';
import { createSessionHost } from '../../src/runtime/session-host.js';
import { evaluateAccuracy } from '../../src/runtime/train/fit.js';
import { createSession } from '../../src/search/calibrate.js';

const [kind, modelFile] = process.argv.slice(2) as [string, string];
switch (kind) {
  case 'calibrate-session':
    await createSession(loadModel(modelFile));
    break;
  case 'host-main':
  case 'host-worker': {
    const host = await createSessionHost({ path: modelFile }, {}, kind === 'host-main' ? 'main' : 'worker');
    await host.release();
    break;
  }
  case 'evaluate-accuracy':
    await evaluateAccuracy(new Uint8Array(fs.readFileSync(modelFile)), { images: new Float32Array(8), labels: new Int32Array(2), n: 2, shape: [4] }, { ort, batchSize: 1 });
    break;
  default:
    throw new Error(`unknown session kind ${kind}`);
}
console.log('ok');
