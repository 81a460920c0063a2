// Validation of device and link profile JSON (E_PROFILE, with the JSON path of the field at
// fault) into the shapes of types.ts.

import { SplitcError } from '../../ir/errors.js';
import { presetHint } from './presets.js';
import { OP_CLASSES, type DeviceEnergyModel, type DeviceProfile, type LinkProfile, type MeasuredModel, type OpClass, type OpClassCoefficients } from './types.js';

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
