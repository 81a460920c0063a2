// Devices and links for the multi-device planning tests, and a check that a placement respects
// the data flow.
import { expect } from 'vitest';
import type { Model } from '../../../src/ir/graph.js';
import type { LinkProfile } from '../../../src/search/profiles/types.js';
import { devicePreset } from '../../../src/search/profiles/presets.js';

export const link = (name: string, mbps: number, rttMs: number): LinkProfile => ({ kind: 'link', schemaVersion: 1, name, uplinkMbps: mbps, downlinkMbps: mbps, rttMs, joulesPerMB: 1 });
export const board = devicePreset('low-power-board')!;
export const phone = devicePreset('phone-wasm')!;
export const cloud = devicePreset('cloud-cpu')!;

export function producersRespect(model: Model, place: Record<string, number>, ok: (producer: number, consumer: number) => boolean): void {
  for (const n of model.graph.nodes) {
    if (!(n.name in place)) continue;
    for (const v of n.dependencies()) {
      const p = v.producer();
      if (p && p.name in place) expect(ok(place[p.name]!, place[n.name]!), `${p.name} → ${n.name}`).toBe(true);
    }
  }
}
