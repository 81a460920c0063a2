// The federated client in Node: runFederatedClient (client.ts) with onnxruntime-node and the
// token from SPLITC_TOKEN when none is given.

import * as ortNode from 'onnxruntime-node';
import { type JoinOptions, type JoinResult, runFederatedClient } from './client.js';
import type { LocalOrt } from './local.js';

export type NodeJoinOptions = Omit<JoinOptions, 'ort'> & {
  /** Default: onnxruntime-node. */
  ort?: LocalOrt;
};

/** Registers with the coordinator at `url`, trains each round it is chosen for, and returns when the federation is done. */
export function joinFederation(opts: NodeJoinOptions): Promise<JoinResult> {
  const token = opts.token ?? process.env.SPLITC_TOKEN;
  return runFederatedClient({ ...opts, ort: opts.ort ?? (ortNode as unknown as LocalOrt), ...(token !== undefined ? { token } : {}) });
}
