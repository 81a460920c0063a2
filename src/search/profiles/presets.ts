// The built-in device and link presets: rough, order-of-magnitude profiles to plan with before
// a device has been measured (`splitc profile`).

import type { DeviceProfile, LinkProfile, OpClassCoefficients } from './types.js';

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

export const presetHint = (kind: 'device' | 'link'): string => {
  const names = (kind === 'device' ? DEVICE_PRESETS : LINK_PRESETS).map((p) => p.name).join(', ');
  const measure = kind === 'device' ? '; measure your own device with `splitc profile`' : '';
  return `${kind} presets: ${names}; or a path to a ${kind} profile JSON file (docs/profiles.md)${measure}`;
};
