// Creating onnxruntime sessions, one way for every caller: from a file path or model bytes,
// with the project's defaults (onnxruntime logs errors only unless the options set a level).
// The onnxruntime module is a parameter, so the same code serves onnxruntime-node and -web
// (the trainer is to run in browsers too); only types are imported here (onnxruntime-common's,
// which -node and -web both re-export).

import type { InferenceSession } from 'onnxruntime-node';
import { withOrtErrorsOnly } from './ort-log.js';

export type OrtSessionOptions = InferenceSession.SessionOptions;

/** What is used of an onnxruntime module (`import * as ort from 'onnxruntime-node'` or `'onnxruntime-web'`). */
export interface OrtModule {
  InferenceSession: {
    create(path: string, options?: OrtSessionOptions): Promise<InferenceSession>;
    create(bytes: Uint8Array, options?: OrtSessionOptions): Promise<InferenceSession>;
  };
}

/** A session of `ort` for the model at `model` (a path) or in it (bytes); `options` pass through unchanged but for the log level's default. */
export function createOrtSession(ort: OrtModule, model: string | Uint8Array, options: OrtSessionOptions = {}): Promise<InferenceSession> {
  const withLog = withOrtErrorsOnly(options);
  // Two calls, not one: onnxruntime's `create` is overloaded by argument type.
  return typeof model === 'string' ? ort.InferenceSession.create(model, withLog) : ort.InferenceSession.create(model, withLog);
}
