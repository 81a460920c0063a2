// Device and link profiles: validation and loading of their JSON (profile-types.ts), the
// built-in presets, and the predictions the partition search makes from them (node latency,
// transfer time, edge energy). docs/profiles.md describes all of it for users.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SplitcError } from '../ir/errors.js';
import {
  OP_CLASSES,
  type DeviceEnergyModel,
  type DeviceProfile,
  type LinkProfile,
  type MeasuredModel,
  type NodeFeatures,
  type OpClass,
  type OpClassCoefficients,
} from './profile-types.js';

// ---------------------------------------------------------------- op classes

/**
 * ONNX op types (default domain, plus onnxruntime's com.microsoft fused/contrib ops, whose
 * names appear in onnxruntime profiles) grouped by what bounds their latency. Anything not
 * listed is 'other' and uses the profile's `default` coefficients.
 */
const OP_CLASS_TABLE: Record<Exclude<OpClass, 'other'>, readonly string[]> = {
  conv: ['Conv', 'ConvTranspose', 'ConvInteger', 'QLinearConv', 'DeformConv', 'FusedConv', 'NhwcConv', 'NhwcFusedConv'],
  matmul: [
    'MatMul', 'Gemm', 'MatMulInteger', 'QLinearMatMul', 'Einsum',
    'FusedMatMul', 'FusedGemm', 'QGemm', 'MatMulNBits', 'MatMulIntegerToFloat', 'DynamicQuantizeMatMul',
    'Attention', 'MultiHeadAttention', 'GroupQueryAttention',
    // Recurrent cells are dominated by their gate matrix products.
    'RNN', 'GRU', 'LSTM',
  ],
  elementwise: [
    'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sqrt', 'Exp', 'Log', 'Abs', 'Neg', 'Reciprocal',
    'Floor', 'Ceil', 'Round', 'Sign', 'Mod', 'Where', 'Max', 'Min', 'Mean', 'Sum',
    'Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Not',
    'BitShift', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor', 'BitwiseNot',
    'Cast', 'CastLike', 'IsNaN', 'IsInf',
    'Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan', 'Sinh', 'Cosh', 'Asinh', 'Acosh', 'Atanh',
    'QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'QLinearAdd', 'QLinearMul', 'BiasAdd',
  ],
  activation: [
    'Relu', 'LeakyRelu', 'PRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh',
    'Softmax', 'LogSoftmax', 'Hardmax', 'Softplus', 'Softsign', 'Erf', 'Gelu', 'Elu', 'Selu', 'Celu',
    'ThresholdedRelu', 'Mish', 'Clip', 'Shrink',
    'FastGelu', 'BiasGelu', 'QuickGelu', 'BiasSoftmax', 'QLinearLeakyRelu', 'QLinearSigmoid',
  ],
  pool: [
    'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'LpPool', 'GlobalLpPool',
    'MaxRoiPool', 'RoiAlign', 'MaxUnpool', 'QLinearAveragePool', 'QLinearGlobalAveragePool', 'NhwcMaxPool',
  ],
  norm: [
    'BatchNormalization', 'LayerNormalization', 'InstanceNormalization', 'GroupNormalization',
    'LpNormalization', 'MeanVarianceNormalization', 'LRN', 'RMSNormalization',
    'SkipLayerNormalization', 'SimplifiedLayerNormalization', 'SkipSimplifiedLayerNormalization', 'EmbedLayerNormalization',
  ],
  resize: ['Resize', 'Upsample', 'GridSample'],
  reduce: [
    'ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2',
    'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare', 'ArgMax', 'ArgMin', 'CumSum', 'TopK',
  ],
  data: [
    'Reshape', 'Transpose', 'Concat', 'Split', 'Slice', 'Gather', 'GatherElements', 'GatherND',
    'Scatter', 'ScatterElements', 'ScatterND', 'Squeeze', 'Unsqueeze', 'Flatten', 'Expand', 'Pad',
    'Shape', 'Size', 'Identity', 'Tile', 'Constant', 'ConstantOfShape', 'Range',
    'DepthToSpace', 'SpaceToDepth', 'Trilu', 'OneHot', 'NonZero', 'Compress', 'ReverseSequence', 'EyeLike',
    // Dropout is an identity at inference; ReorderInput/Output are onnxruntime's NCHWc layout copies.
    'Dropout', 'ReorderInput', 'ReorderOutput',
  ],
};

const OP_CLASS_BY_TYPE: ReadonlyMap<string, OpClass> = (() => {
  const m = new Map<string, OpClass>();
  for (const cls of OP_CLASSES) {
    if (cls === 'other') continue;
    for (const op of OP_CLASS_TABLE[cls]) {
      // A duplicate would make the class depend on table order: a bug in this file.
      if (m.has(op)) throw new Error(`op type ${op} is listed in both ${m.get(op)} and ${cls}`);
      m.set(op, cls);
    }
  }
  return m;
})();

/** The latency class of an op type; unknown op types are 'other'. */
export function opClassOf(opType: string): OpClass {
  return OP_CLASS_BY_TYPE.get(opType) ?? 'other';
}

/** The op types listed for a class (empty for 'other'), in table order. */
export function opTypesOfClass(cls: OpClass): readonly string[] {
  return cls === 'other' ? [] : OP_CLASS_TABLE[cls];
}

// Runtimes turn Constant nodes into initializers and never run them, so they cost nothing
// (a measured table never lists them and the regression would charge them msFixed each).
const NOT_RUN_OP_TYPES: ReadonlySet<string> = new Set(['Constant']);

// ---------------------------------------------------------------- prediction

export type LatencySource = 'measured' | 'regression' | 'not-run';

export interface NodeLatency {
  ms: number;
  source: LatencySource;
  opClass: OpClass;
}

/** The measured table of a model (by sha256 of its ONNX file), if the profile has one. */
export function measuredModelOf(device: DeviceProfile, modelSha256: string): MeasuredModel | undefined {
  const sha = modelSha256.toLowerCase();
  return device.latency.measured?.find((m) => m.modelSha256 === sha);
}

/**
 * Latency of one node on the device and where the number comes from: the measured median
 * for this model and node name when there is one, else the regression of the node's op
 * class (or `default`) times `slowdown`, never negative (fitted intercepts may be).
 */
export function predictNode(device: DeviceProfile, node: NodeFeatures, modelSha256?: string): NodeLatency {
  const opClass = opClassOf(node.opType);
  if (modelSha256 !== undefined) {
    const table = measuredModelOf(device, modelSha256);
    // hasOwn: a node named "constructor" must not find Object.prototype's.
    if (table && Object.hasOwn(table.nodesMs, node.name)) return { ms: table.nodesMs[node.name]!, source: 'measured', opClass };
  }
  if (NOT_RUN_OP_TYPES.has(node.opType)) return { ms: 0, source: 'not-run', opClass };
  const c = device.latency.opClasses[opClass] ?? device.latency.default;
  const ms = (c.msPerGMac * (node.macs / 1e9) + c.msPerMB * (node.bytes / 1e6) + c.msFixed) * device.latency.slowdown;
  return { ms: Math.max(0, ms), source: 'regression', opClass };
}

export function predictNodeMs(device: DeviceProfile, node: NodeFeatures, modelSha256?: string): number {
  return predictNode(device, node, modelSha256).ms;
}

/** One run of a graph segment on the device: the run overhead plus every node's latency. */
export function predictSegmentMs(device: DeviceProfile, nodes: Iterable<NodeFeatures>, modelSha256?: string): number {
  let ms = device.latency.runOverheadMs;
  for (const n of nodes) ms += predictNodeMs(device, n, modelSha256);
  return ms;
}

/** sha256 (lowercase hex) of a model file's bytes: the key of its measured table. */
export function modelSha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Serialization time of `bytes` over the link (RTT not included), ms. */
export function transferMs(link: LinkProfile, bytes: number, direction: 'up' | 'down'): number {
  const mbps = direction === 'up' ? link.uplinkMbps : link.downlinkMbps;
  // 1 Mbps = 1e6 bit/s = 1e3 bit/ms
  return (bytes * 8) / (mbps * 1e3);
}

/** One request across the link: RTT plus sending `upBytes` and receiving `downBytes`, ms. */
export function linkRequestMs(link: LinkProfile, upBytes: number, downBytes: number): number {
  return link.rttMs + transferMs(link, upBytes, 'up') + transferMs(link, downBytes, 'down');
}

// ---------------------------------------------------------------- energy

/** Energy of computing on the device: joulesPerGMac · GMACs, else activeWatts · time; null if the profile has neither. */
export function computeEnergyJ(device: DeviceProfile, macs: number, computeMs: number): number | null {
  const e = device.energy;
  if (e?.joulesPerGMac !== undefined) return e.joulesPerGMac * (macs / 1e9);
  if (e?.activeWatts !== undefined) return e.activeWatts * (computeMs / 1e3);
  return null;
}

/** Energy the edge spends sending `bytes` over the link; null if the link has no joulesPerMB. */
export function sendEnergyJ(link: LinkProfile, bytes: number): number | null {
  return link.joulesPerMB === undefined ? null : link.joulesPerMB * (bytes / 1e6);
}

/** Energy the device draws while waiting (for the network or the cloud); null without idleWatts. */
export function waitEnergyJ(device: DeviceProfile, waitMs: number): number | null {
  return device.energy?.idleWatts === undefined ? null : device.energy.idleWatts * (waitMs / 1e3);
}

/** What the edge does for one request. */
export interface EdgeActivity {
  macs: number;
  computeMs: number;
  sentBytes: number;
  waitMs: number;
}

export interface EdgeEnergyParts {
  computeJ: number;
  sendJ: number;
  waitJ: number;
  totalJ: number;
}

/**
 * Edge energy of one request by part. A part whose amount is zero costs nothing even when
 * the profile lacks its coefficient; otherwise a missing coefficient is an E_PROFILE error
 * (an energy constraint must not pass silently on a profile that cannot answer it).
 */
export function edgeEnergyParts(device: DeviceProfile, link: LinkProfile, activity: EdgeActivity): EdgeEnergyParts {
  const needed = (j: number | null, used: boolean, what: string, field: string, profile: string): number => {
    if (!used) return 0;
    if (j !== null) return j;
    throw new SplitcError('E_PROFILE', `${profile} has no ${field}: cannot estimate the energy of ${what}`, {
      hint: `add ${field} to the profile (docs/profiles.md) or drop the energy constraint`,
    });
  };
  const dev = `device profile ${device.name}`;
  const computeJ = needed(computeEnergyJ(device, activity.macs, activity.computeMs), activity.macs > 0 || activity.computeMs > 0, 'computing', 'energy.joulesPerGMac or energy.activeWatts', dev);
  const sendJ = needed(sendEnergyJ(link, activity.sentBytes), activity.sentBytes > 0, 'sending', 'joulesPerMB', `link profile ${link.name}`);
  const waitJ = needed(waitEnergyJ(device, activity.waitMs), activity.waitMs > 0, 'waiting', 'energy.idleWatts', dev);
  return { computeJ, sendJ, waitJ, totalJ: computeJ + sendJ + waitJ };
}

/** Total edge energy of one request, joules (see `edgeEnergyParts`). */
export function edgeEnergyJ(device: DeviceProfile, link: LinkProfile, activity: EdgeActivity): number {
  return edgeEnergyParts(device, link, activity).totalJ;
}

// ---------------------------------------------------------------- presets

// Coefficients are written from the throughput they assume so the source reads as the
// assumption: msPerGMac from sustained GMAC/s, msPerMB from effective GB/s.
const compute = (gmacPerS: number, gbPerS: number, msFixed: number): OpClassCoefficients => ({
  msPerGMac: 1e3 / gmacPerS,
  msPerMB: 1 / gbPerS,
  msFixed,
});
// Classes whose nodes have no MACs in passes/cost.ts: only bytes and the fixed cost count.
const memoryBound = (gbPerS: number, msFixed: number): OpClassCoefficients => ({ msPerGMac: 0, msPerMB: 1 / gbPerS, msFixed });

const ROUGH = 'Rough preset (order-of-magnitude coefficients, not measured): replace it with a profile measured by `splitc profile`.';
const MiB = 1024 * 1024;

// Memory-bound rates are effective rates on batch-1 activations, which are mostly small
// enough to stay in cache: above DRAM bandwidth on big cores, below it where kernels are
// single-threaded wasm.
const DEVICE_PRESETS: readonly DeviceProfile[] = [
  {
    kind: 'device',
    schemaVersion: 1,
    name: 'phone-wasm',
    description:
      `${ROUGH} A mid-range phone (Cortex-A76/A78-class big core, ~2.2 GHz) running onnxruntime-web wasm with SIMD on one thread: ` +
      '~3 GMAC/s on convolutions and ~4 GMAC/s on matrix products (MobileNet-class models of ~0.3 GMAC take tens of ms to ~100 ms in single-threaded wasm on phones; ' +
      'wasm SIMD is 128-bit and uses one core), 2-6 GB/s effective for memory-bound ops, 20-30 us per kernel, ~1 ms per session.run ' +
      '(copies into and out of the wasm heap); 512 MiB for the model (mobile browsers often refuse larger wasm heaps); ' +
      '~2 W while computing, ~0.5 W awake and waiting (screen excluded).',
    latency: {
      opClasses: {
        conv: compute(3, 4, 0.03),
        matmul: compute(4, 4, 0.03),
        elementwise: memoryBound(4, 0.02),
        activation: memoryBound(2.5, 0.02),
        pool: memoryBound(4, 0.02),
        norm: compute(1, 4, 0.03),
        resize: memoryBound(2, 0.03),
        reduce: memoryBound(4, 0.03),
        data: memoryBound(6, 0.01),
      },
      default: compute(3, 3, 0.03),
      slowdown: 1,
      runOverheadMs: 1,
    },
    memoryBytes: 512 * MiB,
    energy: { activeWatts: 2, idleWatts: 0.5 },
  },
  {
    kind: 'device',
    schemaVersion: 1,
    name: 'low-power-board',
    description:
      `${ROUGH} A Raspberry-Pi-4-class board (4x Cortex-A72 at 1.5 GHz, LPDDR4) running onnxruntime natively on 4 threads: ` +
      '~5 GMAC/s on convolutions and ~6 GMAC/s on matrix products (published HPL results for the Pi 4 are ~13 GFLOP/s, i.e. ~6.5 GMAC/s), ' +
      '2-6 GB/s effective for memory-bound ops (STREAM copy ~4 GB/s from DRAM), ~20 us per kernel, ~0.5 ms per run; ' +
      '1 GiB for the model; ~6 W under a 4-core load, ~2.7 W idle (commonly reported wall-power figures for the Pi 4).',
    latency: {
      opClasses: {
        conv: compute(5, 4, 0.02),
        matmul: compute(6, 4, 0.02),
        elementwise: memoryBound(4, 0.02),
        activation: memoryBound(3, 0.02),
        pool: memoryBound(4, 0.02),
        norm: compute(2, 4, 0.02),
        resize: memoryBound(2, 0.02),
        reduce: memoryBound(4, 0.02),
        data: memoryBound(6, 0.01),
      },
      default: compute(5, 4, 0.02),
      slowdown: 1,
      runOverheadMs: 0.5,
    },
    memoryBytes: 1024 * MiB,
    energy: { activeWatts: 6, idleWatts: 2.7 },
  },
  {
    kind: 'device',
    schemaVersion: 1,
    name: 'laptop-cpu',
    description:
      `${ROUGH} A 4-8 core x86-64 laptop (AVX2/FMA, ~3 GHz) running onnxruntime-node with its default threads: ` +
      '~50 GMAC/s on convolutions and ~70 GMAC/s on matrix products (a quarter to a third of the ~190 GMAC/s AVX2 FMA peak of 4 cores: ' +
      'batch-1 layers are too small to use it all), 15-40 GB/s effective for memory-bound ops on cache-resident activations, ' +
      '~5 us per kernel, ~0.2 ms per run; 4 GiB for the model; ~25 W package power under load, ~4 W idle.',
    latency: {
      opClasses: {
        conv: compute(50, 30, 0.005),
        matmul: compute(70, 30, 0.005),
        elementwise: memoryBound(30, 0.005),
        activation: memoryBound(20, 0.005),
        pool: memoryBound(30, 0.005),
        norm: compute(20, 30, 0.005),
        resize: memoryBound(15, 0.005),
        reduce: memoryBound(30, 0.005),
        data: memoryBound(40, 0.003),
      },
      default: compute(50, 30, 0.01),
      slowdown: 1,
      runOverheadMs: 0.2,
    },
    memoryBytes: 4096 * MiB,
    energy: { activeWatts: 25, idleWatts: 4 },
  },
  {
    kind: 'device',
    schemaVersion: 1,
    name: 'cloud-cpu',
    description:
      `${ROUGH} A cloud server CPU (8-16 physical cores, AVX-512 or AVX2) running onnxruntime with one intra-op thread per core: ` +
      '~150 GMAC/s on convolutions and ~200 GMAC/s on matrix products at batch 1, 30-80 GB/s effective for memory-bound ops, ' +
      '~3 us per kernel, ~0.1 ms per run (server side only: network time is in the link profile); 32 GiB for the model; ' +
      'no energy model (only edge energy is estimated).',
    latency: {
      opClasses: {
        conv: compute(150, 60, 0.003),
        matmul: compute(200, 60, 0.003),
        elementwise: memoryBound(60, 0.003),
        activation: memoryBound(40, 0.003),
        pool: memoryBound(60, 0.003),
        norm: compute(60, 60, 0.003),
        resize: memoryBound(30, 0.003),
        reduce: memoryBound(60, 0.003),
        data: memoryBound(80, 0.002),
      },
      default: compute(150, 60, 0.005),
      slowdown: 1,
      runOverheadMs: 0.1,
    },
    memoryBytes: 32768 * MiB,
  },
];

const LINK_PRESETS: readonly LinkProfile[] = [
  {
    kind: 'link',
    schemaVersion: 1,
    name: '3g',
    description:
      'Rough preset. A 3G (HSPA) cellular link: ~0.8 Mbps up, ~2 Mbps down, ~150 ms RTT (typical HSPA throughputs and latencies); ' +
      '~15 J per MB sent (3G radio power model of Huang et al., MobiSys 2012: ~0.87 W/Mbps + 0.82 W while sending).',
    uplinkMbps: 0.8,
    downlinkMbps: 2,
    rttMs: 150,
    joulesPerMB: 15,
  },
  {
    kind: 'link',
    schemaVersion: 1,
    name: 'lte',
    description:
      'Rough preset. An LTE (4G) cellular link: ~8 Mbps up, ~30 Mbps down, ~50 ms RTT (crowd-sourced LTE upload medians of a few to ~10 Mbps, ' +
      'download medians of a few tens of Mbps); ~5 J per MB sent (LTE power model of Huang et al., MobiSys 2012: ~0.44 W/Mbps + 1.3 W while sending).',
    uplinkMbps: 8,
    downlinkMbps: 30,
    rttMs: 50,
    joulesPerMB: 5,
  },
  {
    kind: 'link',
    schemaVersion: 1,
    name: '5g',
    description:
      'Rough preset. A sub-6 GHz 5G cellular link: ~20 Mbps up, ~150 Mbps down, ~25 ms RTT (crowd-sourced 5G upload medians of 10-30 Mbps, ' +
      'download medians of 100-200 Mbps); ~2 J per MB sent (a ~4 W modem for 0.4 s per MB).',
    uplinkMbps: 20,
    downlinkMbps: 150,
    rttMs: 25,
    joulesPerMB: 2,
  },
  {
    kind: 'link',
    schemaVersion: 1,
    name: 'wifi',
    description:
      'Rough preset. Wi-Fi 5 (802.11ac) to a server on the same network or a nearby edge site: ~50 Mbps up, ~100 Mbps down of TCP throughput, ~5 ms RTT; ' +
      '~0.2 J per MB sent (~1 W of radio power for 0.16 s per MB).',
    uplinkMbps: 50,
    downlinkMbps: 100,
    rttMs: 5,
    joulesPerMB: 0.2,
  },
  {
    kind: 'link',
    schemaVersion: 1,
    name: 'ethernet',
    description:
      'Rough preset. Gigabit Ethernet within a site: ~940 Mbps of TCP goodput each way (1 Gbps line rate less framing), ~0.5 ms RTT; ' +
      '~0.01 J per MB sent (a NIC drawing ~1 W at ~120 MB/s).',
    uplinkMbps: 940,
    downlinkMbps: 940,
    rttMs: 0.5,
    joulesPerMB: 0.01,
  },
  {
    kind: 'link',
    schemaVersion: 1,
    name: 'loopback',
    description:
      'Rough preset. Both parts on one machine over 127.0.0.1 (tests, local serving): ~10 Gbps each way (loopback TCP reaches tens of Gbps; ' +
      'HTTP framing and copies cost the rest), ~0.05 ms RTT; no radio, so 0 J per MB.',
    uplinkMbps: 10000,
    downlinkMbps: 10000,
    rttMs: 0.05,
    joulesPerMB: 0,
  },
];

export interface PresetSummary {
  name: string;
  description: string;
}

/** The built-in presets by kind, in a fixed order (devices edge to cloud, links slow to fast). */
export function listPresets(): { devices: PresetSummary[]; links: PresetSummary[] } {
  const summary = (p: DeviceProfile | LinkProfile): PresetSummary => ({ name: p.name, description: p.description ?? '' });
  return { devices: DEVICE_PRESETS.map(summary), links: LINK_PRESETS.map(summary) };
}

/** A copy of a device preset (callers may change it freely), or undefined. */
export function devicePreset(name: string): DeviceProfile | undefined {
  const p = DEVICE_PRESETS.find((d) => d.name === name);
  return p && structuredClone(p);
}

/** A copy of a link preset, or undefined. */
export function linkPreset(name: string): LinkProfile | undefined {
  const p = LINK_PRESETS.find((l) => l.name === name);
  return p && structuredClone(p);
}

const presetHint = (kind: 'device' | 'link'): string => {
  const names = (kind === 'device' ? DEVICE_PRESETS : LINK_PRESETS).map((p) => p.name).join(', ');
  const measure = kind === 'device' ? '; measure your own device with `splitc profile`' : '';
  return `${kind} presets: ${names}; or a path to a ${kind} profile JSON file (docs/profiles.md)${measure}`;
};

// ---------------------------------------------------------------- validation

type Json = Record<string, unknown>;

/** Checks one profile document, tracking the JSON path of the field under test for its messages. */
class Checker {
  constructor(
    private readonly kind: 'device' | 'link',
    private readonly source: string,
  ) {}

  fail(at: string, problem: string, hint = presetHint(this.kind)): never {
    throw new SplitcError('E_PROFILE', `${this.kind} profile ${this.source}: ${at} ${problem}`, { hint });
  }

  expected(at: string, what: string, got: unknown): never {
    return this.fail(at, `must be ${what}, got ${describe(got)}`);
  }

  object(v: unknown, at: string): Json {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.expected(at, 'an object', v);
    return v as Json;
  }

  /** Rejects fields the schema does not have: most are typos that would silently fall back to defaults. */
  onlyKeys(o: Json, at: string, known: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!known.includes(k)) this.fail(fieldPath(at, k), `is not a field of ${at || `a ${this.kind} profile`} (known: ${known.join(', ')})`);
    }
  }

  number(v: unknown, at: string, rule: 'finite' | 'non-negative' | 'positive'): number {
    const what = rule === 'finite' ? 'a number' : `a ${rule} number`;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.expected(at, what, v);
    if ((rule === 'positive' && !(v > 0)) || (rule === 'non-negative' && !(v >= 0))) this.expected(at, what, v);
    return v;
  }

  optionalNumber(o: Json, key: string, at: string, rule: 'finite' | 'non-negative' | 'positive'): number | undefined {
    return o[key] === undefined ? undefined : this.number(o[key], fieldPath(at, key), rule);
  }

  string(v: unknown, at: string, nonEmpty: boolean): string {
    if (typeof v !== 'string' || (nonEmpty && v.length === 0)) this.expected(at, nonEmpty ? 'a non-empty string' : 'a string', v);
    return v;
  }

  /** kind first, so a profile of the other kind is named as such rather than failing on its first missing field. */
  header(o: Json): { name: string; description?: string } {
    const other = this.kind === 'device' ? 'link' : 'device';
    if (o.kind === other) {
      this.fail('kind', `is "${other}": this is a ${other} profile, not a ${this.kind} profile`, `pass it where a ${other} profile is expected; ${presetHint(this.kind)}`);
    }
    if (o.kind !== this.kind) this.expected('kind', `"${this.kind}"`, o.kind);
    if (typeof o.schemaVersion === 'number' && o.schemaVersion !== 1) {
      this.fail('schemaVersion', `${o.schemaVersion} is not supported (this splitc reads schemaVersion 1)`, 'write the profile with this version of splitc, or upgrade splitc');
    }
    if (o.schemaVersion !== 1) this.expected('schemaVersion', '1', o.schemaVersion);
    const name = this.string(o.name, 'name', true);
    const description = o.description === undefined ? undefined : this.string(o.description, 'description', false);
    return description === undefined ? { name } : { name, description };
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (the field is missing)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}

/** `a.b`, `a[3]`, or `a["odd key"]` for keys that are not identifiers (node names often are not). */
function fieldPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return parent ? `${parent}.${key}` : key;
  return `${parent}[${JSON.stringify(key)}]`;
}

const DEVICE_KEYS = ['kind', 'schemaVersion', 'name', 'description', 'latency', 'memoryBytes', 'energy'] as const;
const LATENCY_KEYS = ['opClasses', 'default', 'slowdown', 'runOverheadMs', 'measured'] as const;
const COEF_KEYS = ['msPerGMac', 'msPerMB', 'msFixed'] as const;
const MEASURED_KEYS = ['modelSha256', 'model', 'inputShapes', 'nodesMs', 'totalMs'] as const;
const ENERGY_KEYS = ['joulesPerGMac', 'activeWatts', 'idleWatts'] as const;
const LINK_KEYS = ['kind', 'schemaVersion', 'name', 'description', 'uplinkMbps', 'downlinkMbps', 'rttMs', 'joulesPerMB'] as const;

function coefficients(c: Checker, v: unknown, at: string): OpClassCoefficients {
  const o = c.object(v, at);
  c.onlyKeys(o, at, COEF_KEYS);
  // Any finite value: least-squares fits can give a negative intercept; predictions clamp at 0.
  return {
    msPerGMac: c.number(o.msPerGMac, fieldPath(at, 'msPerGMac'), 'finite'),
    msPerMB: c.number(o.msPerMB, fieldPath(at, 'msPerMB'), 'finite'),
    msFixed: c.number(o.msFixed, fieldPath(at, 'msFixed'), 'finite'),
  };
}

function measuredModel(c: Checker, v: unknown, at: string): MeasuredModel {
  const o = c.object(v, at);
  c.onlyKeys(o, at, MEASURED_KEYS);
  const shaAt = fieldPath(at, 'modelSha256');
  const sha = c.string(o.modelSha256, shaAt, true);
  if (!/^[0-9a-fA-F]{64}$/.test(sha)) c.expected(shaAt, 'a sha256 as 64 hex digits', sha);
  const model = o.model === undefined ? undefined : c.string(o.model, fieldPath(at, 'model'), false);
  let inputShapes: Record<string, number[]> | undefined;
  if (o.inputShapes !== undefined) {
    const shapesAt = fieldPath(at, 'inputShapes');
    const shapes = c.object(o.inputShapes, shapesAt);
    // fromEntries: an input named "__proto__" must stay a plain key.
    inputShapes = Object.fromEntries(
      Object.entries(shapes).map(([name, dims]) => {
        const dimsAt = fieldPath(shapesAt, name);
        if (!Array.isArray(dims)) c.expected(dimsAt, 'an array of dims', dims);
        const checked = dims.map((d: unknown, i) => {
          if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) c.expected(fieldPath(dimsAt, i), 'a non-negative integer', d);
          return d;
        });
        return [name, checked];
      }),
    );
  }
  const nodesAt = fieldPath(at, 'nodesMs');
  const nodes = c.object(o.nodesMs, nodesAt);
  const nodesMs = Object.fromEntries(Object.entries(nodes).map(([name, ms]) => [name, c.number(ms, fieldPath(nodesAt, name), 'non-negative')]));
  const totalMs = c.optionalNumber(o, 'totalMs', at, 'non-negative');
  // Field order of the type, so a written profile reads the same whatever the input order.
  return {
    modelSha256: sha.toLowerCase(),
    ...(model !== undefined ? { model } : {}),
    ...(inputShapes !== undefined ? { inputShapes } : {}),
    nodesMs,
    ...(totalMs !== undefined ? { totalMs } : {}),
  };
}

/** Validates a device profile document; `source` (a file or preset name) prefixes every message. */
export function parseDeviceProfile(json: unknown, source: string): DeviceProfile {
  const c: Checker = new Checker('device', source);
  const o = c.object(json, 'the document');
  const header = c.header(o);
  c.onlyKeys(o, '', DEVICE_KEYS);

  const lat = c.object(o.latency, 'latency');
  c.onlyKeys(lat, 'latency', LATENCY_KEYS);
  const classesIn = c.object(lat.opClasses, 'latency.opClasses');
  for (const k of Object.keys(classesIn)) {
    if (!(OP_CLASSES as readonly string[]).includes(k)) {
      c.fail(fieldPath('latency.opClasses', k), `is not an op class (op classes: ${OP_CLASSES.join(', ')})`);
    }
  }
  const opClasses: Partial<Record<OpClass, OpClassCoefficients>> = {};
  // OP_CLASSES order, so the output is the same whatever the file's key order.
  for (const cls of OP_CLASSES) {
    if (classesIn[cls] !== undefined) opClasses[cls] = coefficients(c, classesIn[cls], `latency.opClasses.${cls}`);
  }
  const latency: DeviceProfile['latency'] = {
    opClasses,
    default: coefficients(c, lat.default, 'latency.default'),
    slowdown: c.number(lat.slowdown, 'latency.slowdown', 'positive'),
    runOverheadMs: c.number(lat.runOverheadMs, 'latency.runOverheadMs', 'non-negative'),
  };
  const measuredIn = lat.measured;
  if (measuredIn !== undefined) {
    if (!Array.isArray(measuredIn)) c.expected('latency.measured', 'an array', measuredIn);
    const measured = measuredIn.map((m, i) => measuredModel(c, m, `latency.measured[${i}]`));
    measured.forEach((m, i) => {
      const first = measured.findIndex((n) => n.modelSha256 === m.modelSha256);
      if (first !== i) c.fail(`latency.measured[${i}].modelSha256`, `repeats latency.measured[${first}]: one table per model`);
    });
    latency.measured = measured;
  }

  const profile: DeviceProfile = { kind: 'device', schemaVersion: 1, ...header, latency };
  if (o.memoryBytes !== undefined) {
    const memoryBytes = c.number(o.memoryBytes, 'memoryBytes', 'positive');
    if (!Number.isSafeInteger(memoryBytes)) c.expected('memoryBytes', 'a whole number of bytes', memoryBytes);
    profile.memoryBytes = memoryBytes;
  }
  if (o.energy !== undefined) {
    const e = c.object(o.energy, 'energy');
    c.onlyKeys(e, 'energy', ENERGY_KEYS);
    const energy: DeviceEnergyModel = {};
    for (const k of ENERGY_KEYS) {
      const v = c.optionalNumber(e, k, 'energy', 'non-negative');
      if (v !== undefined) energy[k] = v;
    }
    profile.energy = energy;
  }
  return profile;
}

/** Validates a link profile document; `source` prefixes every message. */
export function parseLinkProfile(json: unknown, source: string): LinkProfile {
  const c: Checker = new Checker('link', source);
  const o = c.object(json, 'the document');
  const header = c.header(o);
  c.onlyKeys(o, '', LINK_KEYS);
  const profile: LinkProfile = {
    kind: 'link',
    schemaVersion: 1,
    ...header,
    uplinkMbps: c.number(o.uplinkMbps, 'uplinkMbps', 'positive'),
    downlinkMbps: c.number(o.downlinkMbps, 'downlinkMbps', 'positive'),
    rttMs: c.number(o.rttMs, 'rttMs', 'non-negative'),
  };
  const joulesPerMB = c.optionalNumber(o, 'joulesPerMB', '', 'non-negative');
  if (joulesPerMB !== undefined) profile.joulesPerMB = joulesPerMB;
  return profile;
}

// ---------------------------------------------------------------- loading

/** A device preset name, or a path to a device profile JSON file. */
export function loadDeviceProfile(nameOrPath: string): DeviceProfile {
  return devicePreset(nameOrPath) ?? parseDeviceProfile(readProfileJson(nameOrPath, 'device'), nameOrPath);
}

/** A link preset name, or a path to a link profile JSON file. */
export function loadLinkProfile(nameOrPath: string): LinkProfile {
  return linkPreset(nameOrPath) ?? parseLinkProfile(readProfileJson(nameOrPath, 'link'), nameOrPath);
}

/** A bare word that is no file is taken as a (mistyped) preset name, not as a missing file. */
function looksLikePath(s: string): boolean {
  return s.includes('/') || s.includes(path.sep) || s.toLowerCase().endsWith('.json') || fs.existsSync(s);
}

function readProfileJson(file: string, kind: 'device' | 'link'): unknown {
  const hint = presetHint(kind);
  if (!looksLikePath(file)) {
    const other = kind === 'device' ? 'link' : 'device';
    const isOther = kind === 'device' ? linkPreset(file) !== undefined : devicePreset(file) !== undefined;
    const problem = isOther ? `is a ${other} preset, not a ${kind} preset` : `is neither a ${kind} preset nor a file`;
    throw new SplitcError('E_PROFILE', `${kind} profile ${JSON.stringify(file)} ${problem}`, { hint });
  }
  let text: string;
  try {
    if (fs.statSync(file).isDirectory()) throw new SplitcError('E_PROFILE', `${kind} profile ${file} is a folder, not a JSON file`, { hint });
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof SplitcError) throw e;
    const reason = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new SplitcError('E_PROFILE', `cannot read ${kind} profile ${file}: ${reason}`, { hint, cause: e });
  }
  // Editors on Windows may start the file with a byte order mark, which JSON.parse rejects.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SplitcError('E_PROFILE', `${kind} profile ${file} is not valid JSON: ${jsonErrorWhere(text, (e as Error).message)}`, { hint, cause: e });
  }
}

/** V8's JSON message with the line and column of the error (Node 20's messages often carry neither). */
function jsonErrorWhere(text: string, message: string): string {
  const offset = jsonErrorOffset(text);
  if (offset === null) return message;
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  // V8 may quote the whole text (newlines included) or its own position: the terminal line needs neither.
  const what = message.replace(/, ".*" is not valid JSON$/s, '').replace(/ (?:in|after) JSON at position \d+.*$/s, '');
  return `line ${line}, column ${column}: ${what}`;
}

/**
 * Offset of the first syntax error in `text`, by a small JSON recognizer (JSON.parse says
 * what is wrong but, depending on the Node version, not where); null if it finds none.
 */
function jsonErrorOffset(text: string): number | null {
  const stop = Symbol('stop');
  let i = 0;
  const fail = (): never => {
    throw stop;
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const expect = (ch: string): void => {
    if (text[i] !== ch) fail();
    i++;
  };
  const str = (): void => {
    expect('"');
    for (;;) {
      const ch = text[i];
      if (ch === undefined || ch < ' ') fail();
      if (ch === '"') return void i++;
      if (ch === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) fail();
      }
      i++;
    }
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const value = (): void => {
    ws();
    const ch = text[i];
    if (ch === '{' || ch === '[') {
      const close = ch === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) return void i++;
      for (;;) {
        if (close === '}') {
          ws();
          str();
          ws();
          expect(':');
        }
        value();
        ws();
        if (text[i] === ',') i++;
        else return expect(close);
      }
    }
    if (ch === '"') return str();
    const literal = ch === 't' ? 'true' : ch === 'f' ? 'false' : ch === 'n' ? 'null' : null;
    if (literal) {
      // Character by character, so `tru}` points at the `}` as V8's message does.
      for (const c of literal) expect(c);
      return;
    }
    NUMBER.lastIndex = i;
    if (!NUMBER.test(text)) fail();
    i = NUMBER.lastIndex;
  };
  try {
    value();
    ws();
    return i < text.length ? i : null;
  } catch (e) {
    if (e === stop) return i;
    if (e instanceof RangeError) return null; // nesting deeper than the stack: no position, V8's message stands
    throw e;
  }
}
