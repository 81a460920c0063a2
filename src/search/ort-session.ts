// Creating onnxruntime sessions, one way for every caller: from a file path or model bytes,
// with the project's defaults (onnxruntime logs errors only unless the options set a level).
// The onnxruntime module is a parameter, so the same code serves onnxruntime-node and -web
// (the trainer is to run in browsers too); only types are imported here (onnxruntime-common's,
// which -node and -web both re-export).

import type * as OrtNode from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';
import { withOrtErrorsOnly } from './ort-log.js';

export type OrtSessionOptions = InferenceSession.SessionOptions;

/**
 * An onnxruntime module: `import * as ort from 'onnxruntime-node'`, or `'onnxruntime-web'` in a
 * browser (both export these two from onnxruntime-common).
 */
export type OrtModule = Pick<typeof OrtNode, 'Tensor' | 'InferenceSession'>;

/** A session of `ort` for the model at `model` (a path) or in it (bytes); `options` pass through unchanged but for the log level's default. */
export function createOrtSession(ort: Pick<OrtModule, 'InferenceSession'>, model: string | Uint8Array, options: OrtSessionOptions = {}): Promise<InferenceSession> {
  const withLog = withOrtErrorsOnly(options);
  // Two calls, not one: onnxruntime's `create` is overloaded by argument type.
  return typeof model === 'string' ? ort.InferenceSession.create(model, withLog) : ort.InferenceSession.create(model, withLog);
}
