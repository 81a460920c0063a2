// The JSON shapes of device and link profiles (docs/profiles.md documents them for users).
// A device profile says how fast a device runs each node of a model and what it may hold; a
// link profile how fast bytes cross between two devices. Types only: loading, validation,
// presets and prediction live beside this file in profiles/, measuring in profiler/.

/** Op classes that share one latency regression (see `opClassOf` in op-classes.ts). */
export const OP_CLASSES = ['conv', 'matmul', 'elementwise', 'activation', 'pool', 'norm', 'resize', 'reduce', 'data', 'other'] as const;
export type OpClass = (typeof OP_CLASSES)[number];

/** latencyMs ≈ msPerGMac · GMACs + msPerMB · MB moved + msFixed (MB = 1e6 bytes). */
export interface OpClassCoefficients {
  msPerGMac: number;
  msPerMB: number;
  msFixed: number;
}

/** Per-node latencies measured for one model on this device (medians, ms). */
export interface MeasuredModel {
  /** sha256 (hex) of the ONNX file the node names refer to. */
  modelSha256: string;
  /** Model file name, for people reading the profile. */
  model?: string;
  /** Input shapes the measurement used, e.g. {"x": [1,3,48,192]}. */
  inputShapes?: Record<string, number[]>;
  /** Median latency of each node, by node name. */
  nodesMs: Record<string, number>;
  /** Median latency of one whole run (ms), including what the per-node times miss. */
  totalMs?: number;
}

export interface DeviceLatencyModel {
  /** Regression coefficients per op class; classes missing here use `default`. */
  opClasses: Partial<Record<OpClass, OpClassCoefficients>>;
  default: OpClassCoefficients;
  /** Multiplies every regression prediction (2 = this device is twice as slow as the fit). */
  slowdown: number;
  /** Fixed cost of one run of a graph segment (session call, input/output copies), ms. */
  runOverheadMs: number;
  /** Measured per-node latencies; a node of a measured model uses these instead of the regression. */
  measured?: MeasuredModel[];
}

export interface DeviceEnergyModel {
  /** Energy per billion multiply-accumulates on this device, joules. */
  joulesPerGMac?: number;
  /** Power drawn while computing (used with predicted latency when joulesPerGMac is absent), watts. */
  activeWatts?: number;
  /** Power drawn while waiting for the network or the cloud, watts. */
  idleWatts?: number;
}

export interface DeviceProfile {
  kind: 'device';
  schemaVersion: 1;
  name: string;
  description?: string;
  latency: DeviceLatencyModel;
  /** Memory the model part may use on this device (weights + peak activations), bytes. */
  memoryBytes?: number;
  energy?: DeviceEnergyModel;
}

export interface LinkProfile {
  kind: 'link';
  schemaVersion: 1;
  name: string;
  description?: string;
  /** Edge → cloud bandwidth, megabits per second (1 Mbps = 1e6 bit/s). */
  uplinkMbps: number;
  /** Cloud → edge bandwidth, megabits per second. */
  downlinkMbps: number;
  /** Round-trip time paid once per request that crosses the link, ms. */
  rttMs: number;
  /** Energy the sender spends per megabyte sent (1 MB = 1e6 bytes), joules. */
  joulesPerMB?: number;
}

/** What a latency prediction needs to know about one node. */
export interface NodeFeatures {
  name: string;
  opType: string;
  /** Multiply-accumulates (0 for data movement). */
  macs: number;
  /** Bytes of the node's tensor inputs (activations and weights) and outputs. */
  bytes: number;
}
