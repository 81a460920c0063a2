// The vocabulary of federated training, shared by the algorithms, the simulation, the
// coordinator and the clients (Node and browser). Platform-neutral: no imports.

/** Named float32 tensors: a model's trainable parameters and BatchNorm running statistics. */
export type Weights = Map<string, Float32Array>;

/** A named tensor's shape, in the order the task lists them. */
export interface TensorSpec {
  name: string;
  dims: number[];
}

/**
 * What a client needs to train locally, as the coordinator sends it: the training graph
 * (built once by the coordinator from the global model and the loss) and how to feed it.
 * Clients need no graph passes: they run this graph with onnxruntime (node or web).
 */
export interface TrainingTask {
  /** The training graph as ONNX bytes (`buildTrainingGraph` of the global model). */
  graph: Uint8Array;
  /** Trainable parameters, graph inputs whose gradients are the outputs `grad:<name>`. */
  params: TensorSpec[];
  /** BatchNorm running statistics: graph inputs, and the outputs carrying their updated values. */
  stats: { mean: string; variance: string; meanOut: string; varianceOut: string; dims: number[] }[];
  /** The scalar loss output. */
  loss: string;
  /** The image input and one sample's shape (e.g. [1, 28, 28]). */
  input: { name: string; shape: number[] };
  /** What the labels feed: int64 class indices (cross-entropy) or float32 one-hot rows (SphereFed's MSE). */
  target: { name: string; kind: 'labels' | 'onehot' };
  classes: number;
  /** The training graph's static batch size; a client drops its last partial batch. */
  batchSize: number;
}

/** How a client trains in one round. */
export interface LocalOptions {
  /** Local epochs over the client's data per round (E). */
  epochs: number;
  lr: number;
  momentum?: number;
  weightDecay?: number;
  /** FedProx's μ: the local objective adds μ/2‖w − w_global‖², so each gradient gains μ(w − w_global). 0 or absent: FedAvg. */
  mu?: number;
  /** Seeds the client's batch order (combined with the round and the client's index). */
  seed: number;
}

/** A client's result for one round. */
export interface ClientUpdate {
  client: string;
  round: number;
  /** Training samples the client used (FedAvg's weight). */
  samples: number;
  /** The client's weights after local training: every parameter and running statistic of the task. */
  weights: Weights;
  /** Mean training loss over the client's last local epoch. */
  loss: number;
}

/** One client's labelled data (images [n, ...shape] and class indices). */
export interface ClientData {
  images: Float32Array;
  labels: Int32Array;
  n: number;
  shape: readonly number[];
}
