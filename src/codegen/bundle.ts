// buildBundle: the whole deployable output of a split, written atomically. Everything is
// generated in memory first, written to a temporary folder next to the destination and
// renamed into place, so a failure never leaves a half-written bundle:
//
//   edge/    model.onnx, index.js + index.d.ts (+ index.ts source), lib/ (runtime client), package.json, README.md
//   cloud/   <model>.onnx, server.js, lib/ (runtime server), package.json, README.md
//   triton/  <model>/config.pbtxt, <model>/1/model.onnx (a hard link to cloud/<model>.onnx)
//   manifest.json
//
// <model> is the served name: --model-name, else the source file's stem (defaultModelName).

import { constantPredicate, isConstantNode } from '../ir/constants.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { byteSizeOf, dtypeFromName } from '../ir/dtype.js';
import { ioError, SplitcError } from '../ir/errors.js';
import { removeStaleTemps, staleEntries, tempPrefix } from '../ir/temp-files.js';
import type { Model } from '../ir/graph.js';
import { modelToBytes } from '../ir/serde/io.js';
import { annotateCost } from '../passes/cost.js';
import { CLOUD_ERRORS_IMPORT, CLOUD_SERVE_IMPORT, generateCloudServer } from './cloud.js';
import { EDGE_CLIENT_IMPORT, edgeSupportsDtype, generateEdgeModule } from './edge.js';
import { sha256Hex, tensorSpecOf, type BundleInput, type TensorSpec, type BundleWire } from './input.js';
import { compressionEntry, MANIFEST_SCHEMA_VERSION, manifestText, sortKeys, type Manifest, type PartSummary } from './manifest.js';
import { copyRuntimeModules, splitcModuleRoot } from './runtime-files.js';
import { tritonModel } from './triton.js';
import { badModelName } from './diagnostics.js';

export const DEFAULT_TRITON_MAX_BATCH = 8;

/** Names splitc's server, KServe and Triton (a model folder) all take: letters, digits, `_`, `.`, `-`. */
const MODEL_NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * The served name of a bundle built from `sourceFile` when none is given: the file's stem
 * (`ch_ppocr_mobile_v2.0_cls_infer.onnx` → `ch_ppocr_mobile_v2.0_cls_infer`), each run of
 * other characters replaced by `_` and leading dots dropped (no hidden or `..` folders);
 * `model` when nothing is left. Distinct models then get distinct names in a shared Triton
 * repository.
 */
export function defaultModelName(sourceFile: string): string {
  const stem = (sourceFile.split(/[\\/]/).pop() ?? '').replace(/\.onnx$/i, '');
  const name = stem.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^\.+/, '');
  return name === '' ? 'model' : name;
}

export interface BuildResult {
  outDir: string;
  manifest: Manifest;
  /** Bundle-relative paths of every file written (manifest.json included), sorted. */
  files: string[];
  /** Files and folders the user had added to the bundle this one replaced, moved into it (sorted). */
  kept: string[];
}

type FileContent = string | Uint8Array;

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** Compute nodes, MACs and parameter bytes of one part (the manifest's edge/cloud figures). */
export function summary(m: Model): PartSummary {
  const cost = annotateCost(m);
  let nodes = 0;
  const isConst = constantPredicate();
  for (const n of m.graph.nodes) if (!isConstantNode(n, isConst)) nodes++;
  return { nodes, macs: cost.totals.macs, paramBytes: cost.totals.paramBytes };
}

function graphInputs(m: Model) {
  return m.graph.inputs.filter((v) => !(v.constValue && !v.isGraphInput()));
}

/** Checks that the parts fit together as the contract says; throws E_CODEGEN naming the mismatch. */
export function checkBundleInput(input: BundleInput): void {
  const bad = (message: string): never => {
    throw new SplitcError('E_CODEGEN', message, { hint: 'the edge/cloud models, wire list and outputs given to buildBundle must come from the same split' });
  };
  const wireNames = input.wire.map((w) => w.name);
  if (wireNames.length === 0) bad('nothing crosses the wire');
  if (new Set(wireNames).size !== wireNames.length) bad('a wire tensor is listed twice');
  const edgeOut = input.edge.graph.outputs.map((v) => v.name);
  for (const n of [...wireNames, ...input.edgeOutputs]) if (!edgeOut.includes(n)) bad(`the edge graph does not output '${n}'`);
  const cloudIn = graphInputs(input.cloud);
  if (!sameList(cloudIn.map((v) => v.name), wireNames)) {
    bad(`the cloud graph's inputs [${cloudIn.map((v) => v.name).join(', ')}] are not the wire tensors [${wireNames.join(', ')}]`);
  }
  if (!sameList(input.cloud.graph.outputs.map((v) => v.name), input.cloudOutputs)) bad('the cloud graph\'s outputs are not cloudOutputs');
  const sysOut = input.signature.outputs.map((t) => t.name);
  const covered = new Set([...input.edgeOutputs, ...input.cloudOutputs]);
  if (covered.size !== sysOut.length || sysOut.some((n) => !covered.has(n))) bad('edgeOutputs + cloudOutputs are not the model\'s outputs');
  const sysIn = new Set(input.signature.inputs.map((t) => t.name));
  for (const v of graphInputs(input.edge)) if (!sysIn.has(v.name)) bad(`the edge graph reads '${v.name}', which is not a model input`);
  for (const [i, w] of input.wire.entries()) {
    const c = tensorSpecOf(cloudIn[i]!, 'cloud input');
    if (c.dtype !== w.dtype || JSON.stringify(c.shape) !== JSON.stringify(w.shape)) {
      bad(`wire tensor '${w.name}' is listed as ${w.dtype}[${w.shape.join(',')}] but the cloud graph reads ${c.dtype}[${c.shape.join(',')}]`);
    }
    if (!edgeSupportsDtype(w.dtype)) {
      throw new SplitcError('E_CODEGEN', `wire tensor '${w.name}' is ${w.dtype}, which onnxruntime-web cannot hand over`, {
        hint: 'cut at a tensor of a numeric type (float32, float16, int8, uint8, …)',
      });
    }
  }
  for (const t of input.signature.outputs) {
    if (!edgeSupportsDtype(t.dtype)) {
      throw new SplitcError('E_CODEGEN', `model output '${t.name}' is ${t.dtype}, which the edge module cannot return`, {
        hint: 'the edge module returns numeric tensors only',
      });
    }
  }
}

/** splitc's package.json (dependency ranges for the bundles' package.json files). */
function splitcPackage(): { dependencies: Record<string, string> } {
  const file = path.join(splitcModuleRoot().dir, '..', 'package.json');
  try {
    const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { dependencies?: Record<string, string> };
    return { dependencies: pkg.dependencies ?? {} };
  } catch (e) {
    throw new SplitcError('E_CODEGEN', `cannot read splitc's package.json at ${file}`, { cause: e });
  }
}

function packageName(s: string): string {
  const n = s.toLowerCase().replace(/\.onnx$/, '').replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+/, '');
  return n || 'model';
}

function dependenciesFor(bare: string[], pkg: { dependencies: Record<string, string> }): Record<string, string> {
  const deps: Record<string, string> = {};
  for (const spec of bare) {
    if (spec.startsWith('node:')) continue;
    const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
    const range = pkg.dependencies[name];
    if (!range) throw new SplitcError('E_CODEGEN', `the runtime imports '${spec}', which is not a dependency of splitc`);
    deps[name] = range;
  }
  return Object.fromEntries(Object.entries(deps).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function fmtShape(s: TensorSpec['shape']): string {
  return `[${s.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

function edgeReadme(input: BundleInput, modelName: string, ortRange: string): string {
  const inputs = graphInputs(input.edge).map((v) => tensorSpecOf(v, 'edge input'));
  return `# Edge part of ${input.source.fileName}

Generated by splitc ${input.toolVersion}. Do not edit: rebuild with \`splitc split\`.

\`index.js\` runs \`model.onnx\` with [onnxruntime-web](https://www.npmjs.com/package/onnxruntime-web)
(${ortRange}), sends the tensors at the cut to the cloud with the KServe v2 protocol (binary tensor
extension) and returns the model's outputs. It works in browsers and in Node: it imports only
\`onnxruntime-web\` and \`./lib/runtime/client.js\` (splitc's HTTP client, included here).

\`\`\`js
import { createEdge } from './edge/index.js';
const edge = await createEdge({ endpoint: 'http://127.0.0.1:8080', token: 'secret' });
const outputs = await edge.infer({
${inputs.map((t) => `  ${JSON.stringify(t.name)}: { data: new Float32Array(/* ${t.shape.join('×')} */), dims: ${fmtShape(t.shape)} },`).join('\n')}
});
await edge.release();
\`\`\`

Options: \`endpoint\` (required), \`token\`, \`model\` (default \`${modelName}\`), \`modelUrl\` (default:
\`model.onnx\` next to \`index.js\`), \`wasmPaths\`, \`numThreads\`, \`fetch\`, \`executionProviders\`
(default \`['wasm']\`), \`compress\`, \`timeoutMs\` (per cloud request, default 30000; 0 waits forever),
\`retries\` (503s and refused or reset connections, honouring Retry-After; default
\`{ max: 3, baseMs: 200, maxMs: 10000 }\`, 0 disables; 4xx answers are never retried) and
\`maxResponseBytes\` (default: from the cloud outputs' declared sizes). Cloud answers whose outputs do
not match the model's dtypes and dims fail with \`E_RESPONSE_MALFORMED\`. \`inferWithTimings\` also returns
edge and cloud times.

In a browser, map the bare specifier with an import map, e.g.

\`\`\`html
<script type="importmap">{ "imports": { "onnxruntime-web": "/ort/ort.bundle.min.mjs" } }</script>
\`\`\`

and serve \`onnxruntime-web/dist/\` (its \`.mjs\` and \`.wasm\` files) at \`/ort/\`. The cloud server must
allow the page's origin (CORS) unless the page and the API share an origin.

Inputs: ${inputs.map((t) => `\`${t.name}\` ${t.dtype}${fmtShape(t.shape)}`).join(', ')}.
Sent per sample: ${input.wire.reduce((a, w) => a + w.bytesPerSample, 0)} bytes (${input.wire.map((w) => `\`${w.name}\``).join(', ')}).
`;
}

function cloudReadme(input: BundleInput, modelName: string, deps: Record<string, string>, batchable: boolean): string {
  return `# Cloud part of ${input.source.fileName}

Generated by splitc ${input.toolVersion}. Do not edit: rebuild with \`splitc split\`.

\`server.js\` serves \`${modelName}.onnx\` as \`${modelName}\` with splitc's KServe v2 server (the compiled
modules in \`lib/\`), running it with onnxruntime-node:

\`\`\`sh
node server.js --port 8080 --token-file token.txt
\`\`\`

It needs ${Object.entries(deps)
    .map(([k, v]) => `\`${k}\` (${v})`)
    .join(', ')} resolvable from this folder: run \`npm install\` here (see \`package.json\`), or keep
the bundle inside a project that has ${Object.keys(deps).length > 1 ? 'them' : 'it'} installed. \`splitc serve <this folder>\` serves the
same model. For Triton Inference Server use \`../triton/\` instead (its \`${modelName}/1/model.onnx\` is
this folder's \`${modelName}.onnx\`, hard-linked: the bytes are stored once).

${
    batchable
      ? 'The graph\'s leading dim is a symbolic batch dim, so the server can stack concurrent requests\n(`--max-batch-size N --max-queue-delay-ms T`).'
      : 'The graph has a fixed batch size: requests are run one by one.'
  }
Browsers calling the server from another origin need \`--cors-origin <page origin>\`.

Inputs (from the edge): ${input.wire.map((w) => `\`${w.name}\` ${w.dtype}${fmtShape(w.shape)}`).join(', ')}.
Outputs: ${input.cloudOutputs.map((n) => `\`${n}\``).join(', ')}.
`;
}

/**
 * Every file of the bundle, in memory. `sameAs` maps a path to an earlier one with the same
 * bytes, which buildBundle hard-links instead of writing twice (the Triton copy of the cloud
 * model).
 */
export function generateBundleFiles(input: BundleInput): { files: Map<string, FileContent>; sameAs: Map<string, string>; manifest: Manifest } {
  checkBundleInput(input);
  const modelName = input.modelName ?? defaultModelName(input.source.fileName);
  if (!MODEL_NAME.test(modelName) || modelName === '.' || modelName === '..') {
    throw badModelName(modelName, 'the served model');
  }
  const pkg = splitcPackage();
  const files = new Map<string, FileContent>();

  // edge
  const edgeInputs = graphInputs(input.edge).map((v) => tensorSpecOf(v, 'edge input'));
  const edgeModule = generateEdgeModule({
    toolVersion: input.toolVersion,
    source: input.source.fileName,
    modelName,
    inputs: edgeInputs,
    outputs: input.signature.outputs,
    wire: input.wire,
    edgeOutputs: input.edgeOutputs,
    cloudOutputs: input.cloudOutputs,
    compression: input.compression?.spec ?? 'none',
  });
  const client = copyRuntimeModules([EDGE_CLIENT_IMPORT.replace(/^\.\/lib\//, '').replace(/\.js$/, '')], { declarations: true });
  if (client.bareImports.length) {
    throw new SplitcError('E_CODEGEN', `the runtime client imports ${client.bareImports.join(', ')}; the edge bundle must not depend on anything but onnxruntime-web`);
  }
  const ortWeb = pkg.dependencies['onnxruntime-web'];
  if (!ortWeb) throw new SplitcError('E_CODEGEN', 'splitc does not depend on onnxruntime-web');
  // Without intermediate value_info: onnxruntime-web runs typed intermediates slower (see WriteOptions).
  files.set('edge/model.onnx', modelToBytes(input.edge, { intermediateTypes: false }));
  files.set('edge/index.ts', edgeModule.ts);
  files.set('edge/index.js', edgeModule.js);
  files.set('edge/index.d.ts', edgeModule.dts);
  for (const [p, text] of client.files) files.set(`edge/${p}`, text);
  const base = packageName(input.source.fileName);
  files.set(
    'edge/package.json',
    JSON.stringify(
      { name: `${base}-edge`, private: true, type: 'module', main: 'index.js', types: 'index.d.ts', dependencies: { 'onnxruntime-web': ortWeb } },
      null,
      2,
    ) + '\n',
  );
  files.set('edge/README.md', edgeReadme(input, modelName, ortWeb));

  // triton (first: its batch-polymorphic copy of the cloud graph, when there is one, is served by cloud/ too)
  const triton = tritonModel(input.cloud, {
    name: modelName,
    maxBatchSize: input.tritonMaxBatchSize ?? DEFAULT_TRITON_MAX_BATCH,
    toolVersion: input.toolVersion,
    source: input.source.fileName,
  });
  files.set(`triton/${modelName}/config.pbtxt`, triton.configText);
  files.set(`triton/${modelName}/1/model.onnx`, triton.modelBytes);
  // One copy on disk: a hard link, not a symlink, so that either folder works alone (Triton
  // in a container often sees only triton/, and a link to ../../../cloud would dangle there).
  const sameAs = new Map([[`triton/${modelName}/1/model.onnx`, `cloud/${modelName}.onnx`]]);

  // cloud
  const server = copyRuntimeModules([CLOUD_SERVE_IMPORT.replace(/^\.\/lib\//, '').replace(/\.js$/, '')], { declarations: false });
  if (!server.files.has(CLOUD_ERRORS_IMPORT.replace(/^\.\//, ''))) {
    throw new SplitcError('E_CODEGEN', `the runtime server no longer brings ${CLOUD_ERRORS_IMPORT} along; cloud/server.js needs it`);
  }
  const cloudDeps = dependenciesFor(server.bareImports, pkg);
  files.set(`cloud/${modelName}.onnx`, triton.modelBytes);
  files.set('cloud/server.js', generateCloudServer({ toolVersion: input.toolVersion, source: input.source.fileName, modelName }));
  for (const [p, text] of server.files) files.set(`cloud/${p}`, text);
  files.set(
    'cloud/package.json',
    JSON.stringify({ name: `${base}-cloud`, private: true, type: 'module', main: 'server.js', dependencies: cloudDeps }, null, 2) + '\n',
  );
  files.set('cloud/README.md', cloudReadme(input, modelName, cloudDeps, triton.maxBatchSize > 0));

  for (const [name, text] of Object.entries(input.audit?.files ?? {})) files.set(`report/${name}`, text);

  // manifest
  const sorted = new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const fileTable: Manifest['files'] = {};
  for (const [p, content] of sorted) {
    const bytes = typeof content === 'string' ? Buffer.byteLength(content) : content.byteLength;
    fileTable[p] = { sha256: sha256Hex(content), bytes };
  }
  const edgeSet = new Set(input.edgeOutputs);
  const wire: BundleWire[] = input.wire.map((w) => ({
    name: w.name,
    dtype: w.dtype,
    shape: [...w.shape],
    bytesPerSample: w.bytesPerSample,
    source: w.source,
    ...(w.compression !== undefined ? { compression: sortKeys(w.compression) } : {}),
  }));
  const rawInputs = input.signature.inputs.reduce((a, t) => a + specBytes(t), 0);
  const manifest: Manifest = {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    tool: { name: 'splitc', version: input.toolVersion },
    source: { file: input.source.fileName, sha256: input.source.sha256, bytes: input.source.bytes },
    model: modelName,
    signature: {
      inputs: input.signature.inputs.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape] })),
      outputs: input.signature.outputs.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape], side: edgeSet.has(t.name) ? 'edge' : 'cloud' })),
    },
    cut: { tensors: [...input.cutTensors], dropped: [...input.droppedCutTensors] },
    edge: {
      model: 'edge/model.onnx',
      module: 'edge/index.js',
      inputs: edgeInputs,
      outputs: input.edge.graph.outputs.map((v) => v.name),
      ...summary(input.edge),
    },
    cloud: {
      model: `cloud/${modelName}.onnx`,
      server: 'cloud/server.js',
      inputs: graphInputs(input.cloud).map((v) => v.name),
      outputs: input.cloud.graph.outputs.map((v) => tensorSpecOf(v, 'cloud output')),
      batchable: triton.maxBatchSize > 0,
      ...summary(input.cloud),
    },
    wire,
    bytesPerSample: { wire: wire.reduce((a, w) => a + w.bytesPerSample, 0), rawInputs },
    compression: compressionEntry(input.compression),
    triton: { model: modelName, config: `triton/${modelName}/config.pbtxt`, maxBatchSize: triton.maxBatchSize, noBatchingReason: triton.noBatchingReason },
    ...(input.audit ? { audit: sortKeys(input.audit.summary) } : {}),
    files: fileTable,
  };
  sorted.set('manifest.json', manifestText(manifest));
  return { files: sorted, sameAs, manifest };
}

/** Bytes of one sample of a tensor spec (symbolic dims as 1). */
function specBytes(t: TensorSpec): number {
  const dt = dtypeFromName(t.dtype);
  let n = 1;
  for (const d of t.shape) n *= typeof d === 'number' ? d : 1;
  return dt === undefined ? 0 : byteSizeOf(dt, n);
}

/** Hard-link `existing` at `file`; false (write a copy instead) where the file system has no hard links. */
function hardLink(existing: string, file: string): boolean {
  try {
    fs.linkSync(existing, file);
    return true;
  } catch (e) {
    if (['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK', 'ENOSYS'].includes((e as NodeJS.ErrnoException).code ?? '')) return false;
    throw e;
  }
}

/** True when `dir` is empty or holds a splitc manifest.json: the folders a bundle write may replace. */
export function isSplitcBundle(dir: string): boolean {
  const entries = fs.readdirSync(dir);
  if (entries.length === 0) return true;
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { tool?: { name?: unknown } };
    return m.tool?.name === 'splitc';
  } catch {
    return false;
  }
}

/**
 * Renames the finished `tmp` folder to `dest`. An existing `dest` is first moved aside to `old`
 * (and moved back if the second rename fails), so the path never holds half a bundle; on
 * failure `tmp` is removed and E_IO thrown.
 */
export function renameIntoPlace(tmp: string, dest: string, old: string, exists: boolean, outDir: string): void {
  try {
    if (exists) fs.renameSync(dest, old);
    try {
      fs.renameSync(tmp, dest);
    } catch (e) {
      if (exists) fs.renameSync(old, dest);
      throw e;
    }
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw ioError(`cannot move the bundle into ${outDir}`, e);
  }
}

/**
 * Generate the bundle and write it to `outDir` atomically. An existing `outDir` is replaced
 * only when it is empty or a previous splitc bundle (it has splitc's manifest.json); what the
 * user added to it (files splitc's manifest does not list) is kept.
 */
export function buildBundle(input: BundleInput, outDir: string): BuildResult {
  const dest = path.resolve(outDir);
  const parent = path.dirname(dest);
  const base = path.basename(dest);

  let exists = false;
  try {
    const st = fs.statSync(dest);
    exists = true;
    if (!st.isDirectory()) throw new SplitcError('E_IO', `${outDir} exists and is not a folder`, { hint: 'pass a new folder for the bundle' });
    if (!isSplitcBundle(dest)) {
      throw new SplitcError('E_IO', `${outDir} exists and is not a splitc bundle; refusing to replace it`, { hint: 'pass a new or empty folder, or remove it first' });
    }
  } catch (e) {
    if (e instanceof SplitcError) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot inspect ${outDir}`, e);
  }
  const { files, sameAs, manifest } = generateBundleFiles(input);
  try {
    fs.mkdirSync(parent, { recursive: true });
  } catch (e) {
    throw ioError(`cannot create ${parent}`, e);
  }

  removeStaleTemps(parent, base);
  const tag = `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const tmp = path.join(parent, tempPrefix(base) + tag);
  const old = path.join(parent, `.${base}.splitc-old-${tag}`);
  try {
    fs.mkdirSync(tmp);
    const inTmp = (rel: string): string => path.join(tmp, ...rel.split('/'));
    // originals first, then the paths that share their bytes
    const order = [...files.keys()].sort((a, b) => Number(sameAs.has(a)) - Number(sameAs.has(b)));
    for (const rel of order) {
      const file = inTmp(rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const original = sameAs.get(rel);
      if (original !== undefined && hardLink(inTmp(original), file)) continue;
      fs.writeFileSync(file, files.get(rel)!);
    }
    fs.chmodSync(path.join(tmp, 'cloud', 'server.js'), 0o755);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw ioError(`cannot write the bundle next to ${outDir}`, e);
  }
  renameIntoPlace(tmp, dest, old, exists, outDir);
  // What the user added to the old bundle (cloud/node_modules, a token file, notes) moves into
  // the new one; only what splitc wrote (the old manifest's files) goes. Until every move has
  // succeeded the old bundle stays, hidden next to the new one, so nothing is ever lost.
  // A build killed between its two renames left no bundle at the path, only the hidden old
  // copy: what the user had added to it is recovered here too.
  const olds = [...(exists ? [old] : []), ...staleEntries(parent, `.${base}.splitc-old-`)];
  const kept: string[] = [];
  for (const o of olds) {
    try {
      kept.push(...keepUserFiles(o, dest, new Set(files.keys())));
      fs.rmSync(o, { recursive: true, force: true });
    } catch (e) {
      throw ioError(`the bundle is in ${outDir}, but files you added to the old one could not all be moved into it; they are still in ${o}`, e);
    }
  }
  kept.sort();
  return { outDir: dest, manifest, files: [...files.keys()].sort(), kept };
}

/** Paths splitc wrote into a bundle, from its manifest (manifest.json itself included; none without a readable manifest). */
function splitcFiles(bundle: string): Set<string> {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(bundle, 'manifest.json'), 'utf8')) as { files?: Record<string, unknown> };
    return new Set(['manifest.json', ...Object.keys(m.files ?? {})]);
  } catch {
    return new Set();
  }
}

/**
 * Move every file and folder of the old bundle that splitc did not write into the new bundle,
 * at the same relative path (a folder holding no splitc file, and not in the new bundle, moves
 * whole). A user file at a
 * path the new bundle writes keeps its bytes under `<path>.user`. Returns the moved paths.
 */
function keepUserFiles(oldRoot: string, newRoot: string, written: ReadonlySet<string>): string[] {
  const ours = splitcFiles(oldRoot);
  const moved: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(oldRoot, ...rel.split('/').filter(Boolean)), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      // a folder that holds splitc files, or that the new bundle has too, is merged file by file
      if (e.isDirectory() && ([...ours].some((f) => f.startsWith(`${p}/`)) || fs.existsSync(path.join(newRoot, ...p.split('/'))))) {
        walk(p);
        continue;
      }
      if (ours.has(p)) continue;
      let target = path.join(newRoot, ...p.split('/'));
      if (written.has(p) || fs.existsSync(target)) target = `${target}.user`;
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.renameSync(path.join(oldRoot, ...p.split('/')), target);
      moved.push(path.relative(newRoot, target).split(path.sep).join('/'));
    }
  };
  walk('');
  return moved.sort();
}
