import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allNodes } from '../../../src/ir/graph.js';
import { SplitcError } from '../../../src/ir/errors.js';
import { loadModel } from '../../../src/ir/serde/io.js';
import { OP_CLASSES, type DeviceProfile, type LinkProfile, type NodeFeatures } from '../../../src/search/profiles/types.js';
import { loadDeviceProfile, loadLinkProfile } from '../../../src/search/profiles/load.js';
import { opClassOf, opTypesOfClass } from '../../../src/search/profiles/op-classes.js';
import { parseDeviceProfile, parseLinkProfile } from '../../../src/search/profiles/parse.js';
import { edgeEnergyJ, edgeEnergyParts, linkRequestMs, modelSha256Of, predictNode, predictNodeMs, predictSegmentMs, transferMs } from '../../../src/search/profiles/predict.js';
import { devicePreset, linkPreset, listPresets } from '../../../src/search/profiles/presets.js';
import { codeOf } from '../../helpers/codes.js';
import { fixtures, tmpDir } from '../../helpers/fixtures.js';

/** The SplitcError a call throws (fails the test when it succeeds or throws something else). */
function errorOf(f: () => unknown): SplitcError {
  try {
    f();
  } catch (e) {
    if (e instanceof SplitcError) return e;
    throw e;
  }
  throw new Error('expected a SplitcError');
}

/** A deep copy of `doc` with the field at `at` (dot/bracket path) set, or deleted when value is DELETE. */
const DELETE = Symbol('delete');
function withField(doc: unknown, at: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let o = copy;
  for (const k of at.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  const last = at[at.length - 1]!;
  if (value === DELETE) delete o[last];
  else o[last] = value;
  return copy;
}

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

const presets = listPresets();

describe('presets', () => {
  it('lists four devices and six links', () => {
    expect(presets.devices.map((p) => p.name)).toEqual(['phone-wasm', 'low-power-board', 'laptop-cpu', 'cloud-cpu']);
    expect(presets.links.map((p) => p.name)).toEqual(['3g', 'lte', '5g', 'wifi', 'ethernet', 'loopback']);
  });

  it.each(presets.devices.map((p) => p.name))('device %s validates, survives a JSON round trip byte for byte and says it is rough', (name) => {
    const p = devicePreset(name)!;
    const text = JSON.stringify(p);
    const back = parseDeviceProfile(JSON.parse(text), `preset ${name}`);
    expect(back).toEqual(p);
    expect(JSON.stringify(back)).toBe(text);
    expect(p.description).toMatch(/rough/i);
    expect(loadDeviceProfile(name)).toEqual(p);
  });

  it.each(presets.links.map((p) => p.name))('link %s validates, survives a JSON round trip byte for byte and says it is rough', (name) => {
    const p = linkPreset(name)!;
    const text = JSON.stringify(p);
    const back = parseLinkProfile(JSON.parse(text), `preset ${name}`);
    expect(back).toEqual(p);
    expect(JSON.stringify(back)).toBe(text);
    expect(p.description).toMatch(/rough/i);
    expect(loadLinkProfile(name)).toEqual(p);
  });

  it('hands out copies: changing one does not change the preset', () => {
    const p = loadDeviceProfile('phone-wasm');
    p.latency.slowdown = 100;
    expect(loadDeviceProfile('phone-wasm').latency.slowdown).toBe(1);
  });

  it('orders devices from slow to fast and links from narrow to wide', () => {
    const conv: NodeFeatures = { name: 'c', opType: 'Conv', macs: 1e9, bytes: 4e6 };
    const ms = presets.devices.map((d) => predictNodeMs(loadDeviceProfile(d.name), conv));
    for (let i = 1; i < ms.length; i++) expect(ms[i]!).toBeLessThan(ms[i - 1]!);
    const links = presets.links.map((l) => loadLinkProfile(l.name));
    for (let i = 1; i < links.length; i++) {
      expect(links[i]!.uplinkMbps).toBeGreaterThan(links[i - 1]!.uplinkMbps);
      expect(links[i]!.rttMs).toBeLessThan(links[i - 1]!.rttMs);
    }
  });
});

// A device with every optional part, so every field can be broken.
const fullDevice: DeviceProfile = {
  ...devicePreset('phone-wasm')!,
  latency: {
    ...devicePreset('phone-wasm')!.latency,
    measured: [{ modelSha256: SHA_A, model: 'm.onnx', inputShapes: { x: [1, 3, 8, 8] }, nodesMs: { conv1: 2, 'a.b': 1 }, totalMs: 4 }],
  },
  energy: { joulesPerGMac: 1, activeWatts: 2, idleWatts: 0.5 },
};

describe('device profile validation', () => {
  it('accepts the full device', () => {
    expect(parseDeviceProfile(structuredClone(fullDevice), 'full.json')).toEqual(fullDevice);
  });

  // [field path, value (DELETE removes it), text the message must contain]
  const cases: [(string | number)[], unknown, string][] = [
    [['kind'], 'cloud', 'kind must be "device", got "cloud"'],
    [['kind'], DELETE, 'kind must be "device", got nothing'],
    [['schemaVersion'], 2, 'schemaVersion 2 is not supported'],
    [['schemaVersion'], '1', 'schemaVersion must be 1, got "1"'],
    [['name'], '', 'name must be a non-empty string'],
    [['name'], 5, 'name must be a non-empty string, got 5'],
    [['description'], 7, 'description must be a string'],
    [['colour'], 'red', 'colour is not a field of a device profile'],
    [['latency'], DELETE, 'latency must be an object, got nothing'],
    [['latency', 'opClasses'], [], 'latency.opClasses must be an object, got an array'],
    [['latency', 'opClasses', 'convolution'], { msPerGMac: 1, msPerMB: 1, msFixed: 1 }, 'latency.opClasses.convolution is not an op class'],
    [['latency', 'opClasses', 'conv', 'msPerGMac'], 'fast', 'latency.opClasses.conv.msPerGMac must be a number, got "fast"'],
    [['latency', 'opClasses', 'conv', 'msFixed'], DELETE, 'latency.opClasses.conv.msFixed must be a number'],
    [['latency', 'opClasses', 'conv', 'msPerGmac'], 1, 'latency.opClasses.conv.msPerGmac is not a field of latency.opClasses.conv'],
    [['latency', 'default', 'msPerMB'], null, 'latency.default.msPerMB must be a number, got null'],
    [['latency', 'default'], DELETE, 'latency.default must be an object'],
    [['latency', 'slowdown'], 0, 'latency.slowdown must be a positive number, got 0'],
    [['latency', 'slowdown'], Infinity, 'latency.slowdown must be a positive number, got Infinity'],
    [['latency', 'slowdow'], 2, 'latency.slowdow is not a field of latency'],
    [['latency', 'runOverheadMs'], -1, 'latency.runOverheadMs must be a non-negative number, got -1'],
    [['latency', 'measured'], {}, 'latency.measured must be an array, got an object'],
    [['latency', 'measured', 0, 'modelSha256'], 'abc', 'latency.measured[0].modelSha256 must be a sha256 as 64 hex digits, got "abc"'],
    [['latency', 'measured', 0, 'model'], 3, 'latency.measured[0].model must be a string'],
    [['latency', 'measured', 0, 'nodesMs'], DELETE, 'latency.measured[0].nodesMs must be an object'],
    [['latency', 'measured', 0, 'nodesMs', 'conv1'], -3, 'latency.measured[0].nodesMs.conv1 must be a non-negative number, got -3'],
    [['latency', 'measured', 0, 'nodesMs', 'a.b'], 'x', 'latency.measured[0].nodesMs["a.b"] must be a non-negative number'],
    [['latency', 'measured', 0, 'inputShapes', 'x'], [1, -3], 'latency.measured[0].inputShapes.x[1] must be a non-negative integer, got -3'],
    [['latency', 'measured', 0, 'inputShapes', 'x'], 'NCHW', 'latency.measured[0].inputShapes.x must be an array of dims'],
    [['latency', 'measured', 0, 'totalMs'], 'x', 'latency.measured[0].totalMs must be a non-negative number'],
    [['latency', 'measured', 1], { modelSha256: SHA_A.toUpperCase(), nodesMs: {} }, 'latency.measured[1].modelSha256 repeats latency.measured[0]'],
    [['memoryBytes'], 0, 'memoryBytes must be a positive number, got 0'],
    [['memoryBytes'], 1.5, 'memoryBytes must be a whole number of bytes'],
    [['energy'], 'lots', 'energy must be an object, got "lots"'],
    [['energy', 'activeWatts'], -2, 'energy.activeWatts must be a non-negative number, got -2'],
    [['energy', 'watts'], 2, 'energy.watts is not a field of energy'],
  ];
  it.each(cases)('%j = %j is rejected', (at, value, message) => {
    const e = errorOf(() => parseDeviceProfile(withField(fullDevice, at, value), 'phone.json'));
    expect(e.code).toBe('E_PROFILE');
    expect(e.message).toContain('device profile phone.json: ');
    expect(e.message).toContain(message);
    expect(e.hint).toBeTruthy();
  });

  it.each([[null], [[]], ['device'], [3]])('a document that is not an object (%j) is rejected', (doc) => {
    expect(errorOf(() => parseDeviceProfile(doc, 'x.json')).message).toContain('the document must be an object');
  });

  it('a link profile passed as a device is named as such', () => {
    const e = errorOf(() => parseDeviceProfile(linkPreset('lte'), 'lte.json'));
    expect(e.code).toBe('E_PROFILE');
    expect(e.message).toBe('device profile lte.json: kind is "link": this is a link profile, not a device profile');
    expect(errorOf(() => parseLinkProfile(devicePreset('laptop-cpu'), 'laptop.json')).message).toContain('this is a device profile, not a link profile');
  });

  it('lowercases sha256 and keeps odd node names as plain keys', () => {
    const doc = withField(fullDevice, ['latency', 'measured', 0], JSON.parse(`{"modelSha256":"${SHA_B.toUpperCase()}","nodesMs":{"__proto__":1,"constructor":2}}`));
    const p = parseDeviceProfile(doc, 'x.json');
    const m = p.latency.measured![0]!;
    expect(m.modelSha256).toBe(SHA_B);
    expect(Object.keys(m.nodesMs)).toEqual(['__proto__', 'constructor']);
    expect(predictNodeMs(p, { name: '__proto__', opType: 'Relu', macs: 0, bytes: 0 }, SHA_B)).toBe(1);
  });

  it('accepts negative fitted coefficients (predictions clamp at 0)', () => {
    const doc = withField(fullDevice, ['latency', 'default', 'msFixed'], -0.5);
    expect(parseDeviceProfile(doc, 'fit.json').latency.default.msFixed).toBe(-0.5);
  });
});

describe('link profile validation', () => {
  const lte = linkPreset('lte')!;
  it('names the file and field of a bad value exactly', () => {
    const e = errorOf(() => parseLinkProfile(withField(lte, ['uplinkMbps'], 'fast'), 'lte.json'));
    expect(e.code).toBe('E_PROFILE');
    expect(e.message).toBe('link profile lte.json: uplinkMbps must be a positive number, got "fast"');
  });

  const cases: [(string | number)[], unknown, string][] = [
    [['kind'], 'wire', 'kind must be "link", got "wire"'],
    [['schemaVersion'], DELETE, 'schemaVersion must be 1, got nothing'],
    [['name'], DELETE, 'name must be a non-empty string'],
    [['uplinkMbps'], DELETE, 'uplinkMbps must be a positive number, got nothing'],
    [['downlinkMbps'], 0, 'downlinkMbps must be a positive number, got 0'],
    [['rttMs'], -1, 'rttMs must be a non-negative number, got -1'],
    [['rttMs'], '50ms', 'rttMs must be a non-negative number, got "50ms"'],
    [['joulesPerMB'], {}, 'joulesPerMB must be a non-negative number, got an object'],
    [['latencyMs'], 5, 'latencyMs is not a field of a link profile'],
  ];
  it.each(cases)('%j = %j is rejected', (at, value, message) => {
    const e = errorOf(() => parseLinkProfile(withField(lte, at, value), 'lte.json'));
    expect(e.code).toBe('E_PROFILE');
    expect(e.message).toContain(`link profile lte.json: ${message}`);
  });
});

describe('loading', () => {
  const dir = tmpDir('splitc-profiles-');
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  it('loads a profile file (with or without a byte order mark)', () => {
    const dev = write('dev.json', JSON.stringify(fullDevice, null, 2));
    expect(loadDeviceProfile(dev)).toEqual(fullDevice);
    const link = write('link.json', '\ufeff' + JSON.stringify(linkPreset('wifi')));
    expect(loadLinkProfile(link)).toEqual(linkPreset('wifi'));
  });

  it('a missing file is E_PROFILE with the preset names in the hint', () => {
    const e = errorOf(() => loadDeviceProfile(path.join(dir, 'nope.json')));
    expect(e.code).toBe('E_PROFILE');
    expect(e.message).toContain('cannot read device profile');
    expect(e.message).toContain('ENOENT');
    expect(e.hint).toContain('phone-wasm, low-power-board, laptop-cpu, cloud-cpu');
  });

  it('a folder is E_PROFILE', () => {
    expect(errorOf(() => loadLinkProfile(dir)).message).toContain('is a folder');
  });

  it('invalid JSON gives the line and column', () => {
    const file = write('bad.json', '{\n  "kind": "link",\n  "name": lte\n}');
    const e = errorOf(() => loadLinkProfile(file));
    expect(e.code).toBe('E_PROFILE');
    expect(e.message).toContain(`link profile ${file} is not valid JSON`);
    expect(e.message).toContain('line 3, column 11');
    expect(e.hint).toContain('3g, lte, 5g, wifi, ethernet, loopback');
    expect(errorOf(() => loadLinkProfile(write('short.json', '{"kind": "link"'))).message).toMatch(/line 1/);
  });

  // [text, line, column] of the first syntax error
  const badJson: [string, number, number][] = [
    ['{"a": [1, 2,]}', 1, 13],
    ['{"a": 1,\n "b": tru}', 2, 10],
    ['{"a": "x\\q"}', 1, 10],
    ['{"a": 1} x', 1, 10],
    ['{"a": 01}', 1, 8],
    ['{\n  "a": 1,\n}', 3, 1],
    ['', 1, 1],
  ];
  it.each(badJson)('invalid JSON %j is located at line %i, column %i, on one line', (text, line, column) => {
    const e = errorOf(() => loadDeviceProfile(write('syntax.json', text)));
    expect(e.code).toBe('E_PROFILE');
    expect(e.message).toContain(`is not valid JSON: line ${line}, column ${column}: `);
    expect(e.message).not.toContain('\n');
  });

  it('a link file passed as a device is rejected', () => {
    const file = write('lte.json', JSON.stringify(linkPreset('lte')));
    const e = errorOf(() => loadDeviceProfile(file));
    expect(e.code).toBe('E_PROFILE');
    expect(e.message).toBe(`device profile ${file}: kind is "link": this is a link profile, not a device profile`);
    expect(e.hint).toContain('phone-wasm');
  });

  it('an unknown preset name, or a preset of the other kind, is E_PROFILE', () => {
    const e = errorOf(() => loadDeviceProfile('raspberry'));
    expect(e.message).toBe('device profile "raspberry" is neither a device preset nor a file');
    expect(e.hint).toContain('low-power-board');
    expect(errorOf(() => loadDeviceProfile('lte')).message).toContain('is a link preset, not a device preset');
    expect(errorOf(() => loadLinkProfile('cloud-cpu')).message).toContain('is a device preset, not a link preset');
    expect(codeOf(() => loadLinkProfile('lte'))).toBeUndefined();
  });
});

describe('prediction', () => {
  const device: DeviceProfile = {
    kind: 'device',
    schemaVersion: 1,
    name: 'test',
    latency: {
      opClasses: {
        conv: { msPerGMac: 10, msPerMB: 1, msFixed: 0.5 },
        elementwise: { msPerGMac: 0, msPerMB: 2, msFixed: -1 },
      },
      default: { msPerGMac: 2, msPerMB: 3, msFixed: 0.25 },
      slowdown: 2,
      runOverheadMs: 1.5,
      measured: [{ modelSha256: SHA_A, nodesMs: { conv1: 7 } }],
    },
  };
  const conv1: NodeFeatures = { name: 'conv1', opType: 'Conv', macs: 2e9, bytes: 3e6 };
  const relu: NodeFeatures = { name: 'relu1', opType: 'Relu', macs: 0, bytes: 4e6 };

  it('uses the measured time of this model and node first (not scaled by slowdown)', () => {
    expect(predictNode(device, conv1, SHA_A)).toEqual({ ms: 7, source: 'measured', opClass: 'conv' });
    expect(predictNodeMs(device, conv1, SHA_A.toUpperCase())).toBe(7);
  });

  it('falls back to the class regression times slowdown for another model or node', () => {
    // (10 ms/GMAC · 2 GMAC + 1 ms/MB · 3 MB + 0.5 ms) · 2
    expect(predictNode(device, conv1, SHA_B)).toEqual({ ms: 47, source: 'regression', opClass: 'conv' });
    expect(predictNodeMs(device, conv1)).toBe(47);
    expect(predictNodeMs(device, { ...conv1, name: 'conv2' }, SHA_A)).toBe(47);
  });

  it('uses default for a class the profile does not list', () => {
    // activation is not listed: (2 · 0 + 3 · 4 + 0.25) · 2
    expect(predictNode(device, relu)).toEqual({ ms: 24.5, source: 'regression', opClass: 'activation' });
    expect(predictNode(device, { name: 'x', opType: 'NonMaxSuppression', macs: 1e9, bytes: 0 })).toEqual({ ms: 4.5, source: 'regression', opClass: 'other' });
  });

  it('never predicts a negative latency', () => {
    expect(predictNodeMs(device, { name: 'add', opType: 'Add', macs: 0, bytes: 0 })).toBe(0);
    expect(predictNodeMs(device, { name: 'add', opType: 'Add', macs: 0, bytes: 1e6 })).toBe(2); // (2 - 1) · 2
  });

  it('Constant nodes cost nothing (runtimes fold them into initializers)', () => {
    expect(predictNode(device, { name: 'k', opType: 'Constant', macs: 0, bytes: 1e6 })).toEqual({ ms: 0, source: 'not-run', opClass: 'data' });
  });

  it('a segment adds the run overhead once', () => {
    expect(predictSegmentMs(device, [conv1, relu], SHA_A)).toBe(1.5 + 7 + 24.5);
    expect(predictSegmentMs(device, [])).toBe(1.5);
  });

  it('hashes a model file like sha256sum', () => {
    expect(modelSha256Of(new TextEncoder().encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('links and energy', () => {
  const link: LinkProfile = { kind: 'link', schemaVersion: 1, name: 't', uplinkMbps: 8, downlinkMbps: 32, rttMs: 40, joulesPerMB: 3 };

  it('transferMs is bytes · 8 / bandwidth, without RTT', () => {
    expect(transferMs(link, 1e6, 'up')).toBe(1000);
    expect(transferMs(link, 1e6, 'down')).toBe(250);
    expect(transferMs(link, 0, 'up')).toBe(0);
    expect(linkRequestMs(link, 1e6, 1e6)).toBe(40 + 1000 + 250);
    expect(transferMs(loadLinkProfile('ethernet'), 117.5e6, 'up')).toBeCloseTo(1000, 9);
  });

  const base = devicePreset('phone-wasm')!;
  it('computing costs joulesPerGMac · GMACs, else activeWatts · time; sending joulesPerMB · MB; waiting idleWatts · time', () => {
    const activity = { macs: 2e9, computeMs: 500, sentBytes: 2e6, waitMs: 1000 };
    const withGMac: DeviceProfile = { ...base, energy: { joulesPerGMac: 0.25, activeWatts: 2, idleWatts: 0.5 } };
    expect(edgeEnergyParts(withGMac, link, activity)).toEqual({ computeJ: 0.5, sendJ: 6, waitJ: 0.5, totalJ: 7 });
    const withWatts: DeviceProfile = { ...base, energy: { activeWatts: 2, idleWatts: 0.5 } };
    expect(edgeEnergyParts(withWatts, link, activity)).toEqual({ computeJ: 1, sendJ: 6, waitJ: 0.5, totalJ: 7.5 });
    expect(edgeEnergyJ(withWatts, link, activity)).toBe(7.5);
  });

  it('a missing coefficient is an error only when its part is used', () => {
    const noEnergy: DeviceProfile = { ...base };
    delete noEnergy.energy;
    const e = errorOf(() => edgeEnergyJ(noEnergy, link, { macs: 1, computeMs: 1, sentBytes: 0, waitMs: 0 }));
    expect(e.code).toBe('E_PROFILE');
    expect(e.message).toContain('energy.joulesPerGMac or energy.activeWatts');
    const { joulesPerMB: _, ...noRadio } = link;
    expect(edgeEnergyJ(base, noRadio, { macs: 1e9, computeMs: 1000, sentBytes: 0, waitMs: 0 })).toBe(2);
    expect(errorOf(() => edgeEnergyJ(base, noRadio, { macs: 0, computeMs: 0, sentBytes: 1, waitMs: 0 })).message).toContain('link profile t has no joulesPerMB');
  });
});

describe('opClassOf', () => {
  it('maps by a table and sends unknown op types to other', () => {
    expect(opClassOf('Conv')).toBe('conv');
    expect(opClassOf('Gemm')).toBe('matmul');
    expect(opClassOf('HardSwish')).toBe('activation');
    expect(opClassOf('GlobalAveragePool')).toBe('pool');
    expect(opClassOf('LayerNormalization')).toBe('norm');
    expect(opClassOf('Upsample')).toBe('resize');
    expect(opClassOf('ArgMax')).toBe('reduce');
    expect(opClassOf('Unsqueeze')).toBe('data');
    expect(opClassOf('Where')).toBe('elementwise');
    expect(opClassOf('conv')).toBe('other'); // op types are case-sensitive
    expect(opClassOf('If')).toBe('other');
    expect(opClassOf('constructor')).toBe('other');
    for (const cls of OP_CLASSES) {
      if (cls === 'other') expect(opTypesOfClass(cls)).toEqual([]);
      else for (const op of opTypesOfClass(cls)) expect(opClassOf(op)).toBe(cls);
    }
  });

  // Op types of the fixture models deliberately left as 'other' (none today).
  const LEFT_AS_OTHER = new Set<string>();
  it.each(fixtures().map((f) => [f.file, f.path]))('covers every op type of %s', (_file, file) => {
    const model = loadModel(file);
    const opTypes = new Set<string>();
    for (const n of allNodes(model.graph)) opTypes.add(n.opType);
    expect(opTypes.size).toBeGreaterThan(5);
    const unmapped = [...opTypes].filter((op) => opClassOf(op) === 'other' && !LEFT_AS_OTHER.has(op)).sort();
    expect(unmapped).toEqual([]);
  });
});
