// What the partition search predicts from profiles: a node's latency on a device (measured
// table, else its op class's regression), transfer time over a link, and the edge's energy.

import { createHash } from 'node:crypto';
import { SplitcError } from '../../ir/errors.js';
import { NOT_RUN_OP_TYPES, opClassOf } from './op-classes.js';
import type { DeviceProfile, LinkProfile, MeasuredModel, NodeFeatures, OpClass } from './types.js';

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
