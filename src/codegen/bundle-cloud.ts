// A split bundle read back from disk (manifest.json and the two parts it lists, checked
// against their sha256), and a copy of it with the cloud model replaced (`splitc fed
// calibrate`), written to a temporary folder and renamed into place; the input is never touched.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ioError, SplitcError } from '../ir/errors.js';
import type { Model } from '../ir/graph.js';
import { modelToBytes } from '../ir/serde/io.js';
import { removeStaleTemps, tempPrefix } from '../ir/temp-files.js';
import { isSplitcBundle, renameIntoPlace, summary } from './bundle.js';
import { badBundle } from './diagnostics.js';
import { sha256Hex, type Json } from './input.js';
import { manifestText, sortKeys, type Manifest } from './manifest.js';

export interface BundleOnDisk {
  /** The bundle folder, resolved. */
  dir: string;
  manifest: Manifest;
  /** edge/model.onnx and cloud/<model>.onnx as written by splitc (hashes checked). */
  edgeBytes: Uint8Array;
  cloudBytes: Uint8Array;
}

function readListed(dir: string, m: Manifest, rel: string, what: string): Uint8Array {
  const entry = m.files?.[rel];
  if (!entry) throw badBundle(dir, `manifest.json does not list the ${what} '${rel}'`);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path.join(dir, ...rel.split('/')));
  } catch (e) {
    throw badBundle(dir, `the ${what} '${rel}' cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (sha256Hex(view) !== entry.sha256) throw badBundle(dir, `the ${what} '${rel}' is not the file manifest.json lists (sha256 differs)`, 'the bundle was changed after splitc wrote it; split the model again');
  return view;
}

/** Reads a bundle's manifest and its edge and cloud models; throws E_BUNDLE when they are not what the manifest says. */
export function readBundle(bundleDir: string): BundleOnDisk {
  const dir = path.resolve(bundleDir);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
  } catch (e) {
    throw badBundle(bundleDir, `no readable manifest.json (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (manifest?.tool?.name !== 'splitc' || !manifest.edge?.model || !manifest.cloud?.model || !manifest.files) {
    throw badBundle(bundleDir, 'manifest.json is not a splitc bundle manifest');
  }
  // The copy reads every listed path: none may leave the bundle folder.
  const outside = Object.keys(manifest.files).find((rel) => path.isAbsolute(rel) || rel.split(/[\\/]/).some((part) => part === '..' || part === ''));
  if (outside !== undefined) throw badBundle(bundleDir, `manifest.json lists '${outside}', a path outside the bundle folder`);
  const edgeBytes = readListed(bundleDir, manifest, manifest.edge.model, 'edge model');
  const cloudBytes = readListed(bundleDir, manifest, manifest.cloud.model, 'cloud model');
  const fromEdge = new Set(manifest.edge.outputs);
  const missing = manifest.cloud.inputs.filter((n) => !fromEdge.has(n));
  if (missing.length) throw badBundle(bundleDir, `the cloud part reads ${missing.map((n) => `'${n}'`).join(', ')}, which the edge part does not output`);
  return { dir, manifest, edgeBytes, cloudBytes };
}

const inside = (child: string, parent: string): boolean => child === parent || child.startsWith(parent + path.sep);

/**
 * Writes a copy of `bundle` to `outDir` with its cloud model (and Triton's copy of it) replaced
 * by `cloud`, whose outputs must be the old ones by name. The manifest's file table and cloud
 * figures are updated and `calibration` recorded. Only the files the manifest lists are copied
 * (not what a user added, e.g. cloud/node_modules). An existing `outDir` is replaced only when
 * it is empty or a splitc bundle; `outDir` may not overlap the input bundle.
 */
export function writeBundleWithCloud(bundle: BundleOnDisk, outDir: string, cloud: Model, calibration: Json): { outDir: string; manifest: Manifest; files: string[] } {
  const m = bundle.manifest;
  const dest = path.resolve(outDir);
  if (inside(dest, bundle.dir) || inside(bundle.dir, dest)) {
    throw new SplitcError('E_BAD_ARGUMENT', `the output folder ${outDir} overlaps the input bundle ${bundle.dir}`, { hint: 'write the calibrated bundle to a new folder, e.g. -o bundle-calibrated/' });
  }
  const outputs = cloud.graph.outputs.map((v) => v.name);
  const expected = m.cloud.outputs.map((o) => o.name);
  if (outputs.join('\0') !== expected.join('\0')) {
    throw new SplitcError('E_CODEGEN', `the new cloud model outputs ${outputs.join(', ')}; the bundle's edge module expects ${expected.join(', ')}`);
  }
  let exists = false;
  try {
    const st = fs.statSync(dest);
    exists = true;
    if (!st.isDirectory() || !isSplitcBundle(dest)) {
      throw new SplitcError('E_IO', `${outDir} exists and is not an empty folder or a splitc bundle; refusing to replace it`, { hint: 'pass a new or empty folder, or remove it first' });
    }
  } catch (e) {
    if (e instanceof SplitcError) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot inspect ${outDir}`, e);
  }

  const cloudBytes = modelToBytes(cloud);
  const cloudSha = sha256Hex(cloudBytes);
  const oldSha = m.files[m.cloud.model]!.sha256;
  // Triton's copy is the same bytes as the cloud model (a hard link in the bundle): replace it too.
  const replaced = new Set(Object.keys(m.files).filter((rel) => rel === m.cloud.model || (rel.endsWith('.onnx') && rel.startsWith('triton/') && m.files[rel]!.sha256 === oldSha)));
  const files: Manifest['files'] = {};
  for (const rel of Object.keys(m.files)) files[rel] = replaced.has(rel) ? { sha256: cloudSha, bytes: cloudBytes.byteLength } : m.files[rel]!;
  const { files: _old, calibration: _previous, ...rest } = m;
  const manifest: Manifest = { ...rest, cloud: { ...m.cloud, ...summary(cloud) }, calibration: sortKeys(calibration), files };

  const parent = path.dirname(dest);
  const base = path.basename(dest);
  const tag = `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const tmp = path.join(parent, tempPrefix(base) + tag);
  const old = path.join(parent, `.${base}.splitc-old-${tag}`);
  try {
    fs.mkdirSync(parent, { recursive: true });
    removeStaleTemps(parent, base);
    fs.mkdirSync(tmp);
    let firstCloud: string | null = null;
    for (const rel of Object.keys(m.files).sort()) {
      const target = path.join(tmp, ...rel.split('/'));
      fs.mkdirSync(path.dirname(target), { recursive: true });
      if (!replaced.has(rel)) fs.copyFileSync(path.join(bundle.dir, ...rel.split('/')), target);
      else if (firstCloud === null) {
        fs.writeFileSync(target, cloudBytes);
        firstCloud = target;
      } else {
        try {
          fs.linkSync(firstCloud, target);
        } catch {
          fs.writeFileSync(target, cloudBytes);
        }
      }
    }
    fs.writeFileSync(path.join(tmp, 'manifest.json'), manifestText(manifest));
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw ioError(`cannot write the bundle next to ${outDir}`, e);
  }
  renameIntoPlace(tmp, dest, old, exists, outDir);
  if (exists) fs.rmSync(old, { recursive: true, force: true });
  return { outDir: dest, manifest, files: ['manifest.json', ...Object.keys(files)].sort() };
}
