// `splitc fed join` as one function: client k of N takes its part of the seeded partition of a
// data set (the same parts `fed simulate` gives its clients) and joins a coordinator over HTTP,
// training each round it is chosen for until the federation is done.

import type { ClientCalibrationRecord, ClientRoundRecord } from '../runtime/federated/client.js';
import { joinFederation } from '../runtime/federated/node-client.js';
import { subset } from '../runtime/federated/partition.js';
import { clientIds } from '../runtime/federated/simulate.js';
import { badArgument as badArg } from './diagnostics.js';
import { checkPartitionFlags, checkWholeNumbers, loadFedData, partitionClients } from './fed-options.js';

export interface FedJoinOptions {
  /** The coordinator's base URL (as `fed serve` prints it). */
  url: string;
  token: string;
  data: string;
  dataDir?: string;
  trainLimit?: number;
  /** This client's part (0 … clients − 1) of the partition into `clients` parts. */
  clientIndex: number;
  clients: number;
  /** Non-IID: Dirichlet(α) over clients per class; exactly one of `alpha` and `iid`. */
  alpha?: number;
  iid?: boolean;
  /** Seeds the partition (the same seed as the coordinator's and simulate's). */
  seed: number;
  /** onnxruntime intra-op threads (default 1: clients often share a host). */
  threads?: number;
  /** How long a coordinator that does not answer is waited for (default 30 s). */
  reconnectMs?: number;
  onRound?: (record: ClientRoundRecord) => void;
}

export interface FedJoinSummary {
  client: string;
  /** The coordinator's registration index (its batch orders are seeded by --client-index). */
  index: number;
  samples: number;
  /** 'done' (or the state it left in, with maxRounds). */
  state: 'open' | 'calibrating' | 'done';
  rounds: ClientRoundRecord[];
  /** SphereFed: the calibration statistics this client uploaded, one per phase attempt. */
  calibrations: ClientCalibrationRecord[];
}

function checkOptions(o: FedJoinOptions): void {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw badArg(`'${o.url}' is not a URL`, 'the coordinator\'s base URL, e.g. http://127.0.0.1:8000 (as `splitc fed serve` prints it)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badArg(`the coordinator's URL must be http(s), got ${url.protocol}`);
  checkPartitionFlags(o, { choose: 'the same as the other clients of the run' });
  checkWholeNumbers([
    ['--clients', o.clients, 1],
    ['--client-index', o.clientIndex, 0],
    ['--train-limit', o.trainLimit, 1],
    ['--seed', o.seed, 0],
  ]);
  if (o.clientIndex >= o.clients) throw badArg(`--client-index ${o.clientIndex} is not one of 0…${o.clients - 1} (--clients ${o.clients})`);
}

/** Joins the federation at `o.url` with this client's part of the data; resolves when it is done. */
export async function runFedJoin(o: FedJoinOptions): Promise<FedJoinSummary> {
  checkOptions(o);
  const { train } = loadFedData({ ...o, testLimit: 1 });
  const parts = partitionClients(train, o);
  const data = subset(train, parts[o.clientIndex]!);
  const result = await joinFederation({
    url: o.url,
    token: o.token,
    // simulate's id for client k, so a run's clients are named alike in both
    client: clientIds(o.clients)[o.clientIndex]!,
    // and simulate's batch orders for client k, whatever order the clients register in
    seedIndex: o.clientIndex,
    data,
    sessionOptions: { intraOpNumThreads: o.threads ?? 1 },
    ...(o.reconnectMs !== undefined ? { reconnectMs: o.reconnectMs } : {}),
    onRound: (record) => o.onRound?.(record),
  });
  return { client: result.client, index: result.index, samples: data.n, state: result.info.state, rounds: result.rounds, calibrations: result.calibrations };
}
