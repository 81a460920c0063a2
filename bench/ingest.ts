// Ingest benchmark: read (loadModel), verify, write (saveModel) throughput and peak RSS
// for a synthetic ≥ 500 MB weight-heavy model, a 10,000-node model and the fixtures,
// each measured in fresh child processes; onnx.load/onnx.save (python3-onnx) as a
// reference; `splitc inspect --json` wall time. Prints a markdown table.
//
//   npx tsx bench/ingest.ts [--runs 3] [--big-mb 512] [--nodes 10000] [--models stem,…] [--keep]
//                           [--cli path/to/splitc.js]
//
// --big-mb and --nodes size the two synthetic models; --models keeps only the named fixtures
// (file names without .onnx; default all). The defaults are what docs/benchmarks.md records;
// smaller values are budgets for a quick check that the script still runs.
//
// Temp files go to a folder under os.tmpdir() that is removed at the end.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder } from '../src/ir/builder.js';
import { DataType } from '../src/ir/dtype.js';
import type { Value } from '../src/ir/graph.js';
import { loadModel, saveModel } from '../src/ir/serde/io.js';
import { assertValid } from '../src/ir/verify.js';
import { selectModels } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const SYSTEM_PYTHON = '/usr/bin/python3';

// --- child side ---------------------------------------------------------------

interface ChildResult {
  ms: number;
  maxRssBytes: number;
  bytes?: number;
  nodes?: number;
}

function maxRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

function countNodes(m: ReturnType<typeof loadModel>): number {
  let n = 0;
  for (const _ of m.graph.nodes) n++;
  return n;
}

function child(op: string, file: string, out?: string): ChildResult {
  switch (op) {
    case 'baseline':
      return { ms: 0, maxRssBytes: maxRssBytes() };
    case 'read': {
      const t0 = performance.now();
      const m = loadModel(file);
      const ms = performance.now() - t0;
      return { ms, maxRssBytes: maxRssBytes(), nodes: countNodes(m) };
    }
    case 'verify': {
      const m = loadModel(file);
      const t0 = performance.now();
      assertValid(m);
      return { ms: performance.now() - t0, maxRssBytes: maxRssBytes() };
    }
    case 'write': {
      const m = loadModel(file);
      const t0 = performance.now();
      const r = saveModel(m, out!);
      const ms = performance.now() - t0;
      return { ms, maxRssBytes: maxRssBytes(), bytes: r.modelBytes + r.externalBytes };
    }
    case 'gen-big':
      return generateBig(file, Number(out));
    case 'gen-many':
      return generateManyNodes(file, Number(out));
    case 'gen-big-external': {
      const t0 = performance.now();
      const m = loadModel(out!);
      saveModel(m, file, { externalDataThreshold: 1024 });
      return { ms: performance.now() - t0, maxRssBytes: maxRssBytes() };
    }
    default:
      throw new Error(`unknown child op ${op}`);
  }
}

/**
 * MatMul/Add chain of 4096×4096 float32 weights (64 MiB each) until `targetMb` is reached; below
 * 64 MB, one layer as wide as fits (a power of two), so that a small --big-mb is small.
 */
function generateBig(file: string, targetMb: number): ChildResult {
  const t0 = performance.now();
  let width = 4096;
  while (width > 16 && width * width * 4 > targetMb * 2 ** 20) width /= 2;
  const layers = Math.max(1, Math.ceil((targetMb * 2 ** 20) / (width * width * 4)));
  const b = new GraphBuilder('weight_heavy');
  let y: Value = b.input('x', DataType.FLOAT, ['N', width]);
  for (let i = 0; i < layers; i++) {
    const w = b.weight(`layer${i}.weight`, [width, width], i + 1, 0.01);
    const bias = b.weight(`layer${i}.bias`, [width], 1000 + i, 0.01);
    y = b.op('Add', [b.op('MatMul', [y, w]), bias]);
    if (i + 1 < layers) y = b.op('Relu', [y]);
  }
  b.output(y, { dtype: DataType.FLOAT, shape: ['N', width] });
  saveModel(b.model({ opset: 17 }), file);
  return { ms: performance.now() - t0, maxRssBytes: maxRssBytes(), nodes: layers * 3 - 1 };
}

/** A long chain of small Conv/Relu/Add residual blocks (3 nodes each). */
function generateManyNodes(file: string, nodes: number): ChildResult {
  const t0 = performance.now();
  const c = 8;
  const b = new GraphBuilder('many_nodes');
  let y: Value = b.input('x', DataType.FLOAT, [1, c, 16, 16]);
  let count = 0;
  for (let i = 0; count + 3 <= nodes; i++) {
    const w = b.weight(`conv${i}.weight`, [c, c, 3, 3], i + 1, 0.05);
    const h = b.op('Conv', [y, w], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
    y = b.op('Add', [b.op('Relu', [h]), y]);
    count += 3;
  }
  while (count < nodes) {
    y = b.op('Relu', [y]);
    count++;
  }
  b.output(y, { dtype: DataType.FLOAT, shape: [1, c, 16, 16] });
  saveModel(b.model({ opset: 17 }), file);
  return { ms: performance.now() - t0, maxRssBytes: maxRssBytes(), nodes: count };
}

// --- parent side --------------------------------------------------------------

/** Flush dirty pages so one measurement's writeback does not slow down the next. */
function syncDisks(): void {
  spawnSync('sync');
}

function runChild(op: string, file: string, out?: string): ChildResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', op, file, ...(out ? [out] : [])], {
    cwd: repoRoot,
    encoding: 'utf8',
    maxBuffer: 16 * 2 ** 20,
  });
  if (r.status !== 0) throw new Error(`child ${op} ${file} failed (${r.status}): ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as ChildResult;
}

interface PyResult {
  load_ms: number;
  save_ms: number;
  maxrss_bytes: number;
}

function pythonOnnx(): string | null {
  if (!fs.existsSync(SYSTEM_PYTHON)) return null;
  const r = spawnSync(SYSTEM_PYTHON, ['-c', 'import onnx; print(onnx.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function runPython(file: string, out: string): PyResult {
  const script = `
import json, resource, sys, time, onnx
t0 = time.perf_counter()
m = onnx.load(sys.argv[1])
t1 = time.perf_counter()
onnx.save(m, sys.argv[2])
t2 = time.perf_counter()
print(json.dumps({"load_ms": (t1 - t0) * 1e3, "save_ms": (t2 - t1) * 1e3,
                  "maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
`;
  const r = spawnSync(SYSTEM_PYTHON, ['-c', script, file, out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python onnx.load/save failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as PyResult;
}

/** Wall time of `node bin/splitc.js inspect <model> --json > /dev/null`, or why it cannot run. */
function timeInspect(cli: string, file: string): { ms: number } | { error: string } {
  if (cli === path.join(repoRoot, 'bin/splitc.js') && !fs.existsSync(path.join(repoRoot, 'dist/cli/main.js'))) {
    return { error: 'CLI not built (run `npm run build`)' };
  }
  const devNull = fs.openSync('/dev/null', 'w');
  try {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [cli, 'inspect', file, '--json'], {
      stdio: ['ignore', devNull, 'pipe'],
      encoding: 'utf8',
    });
    const ms = performance.now() - t0;
    if (r.status !== 0) return { error: `exit ${r.status}: ${r.stderr.trim().split('\n')[0]}` };
    return { ms };
  } finally {
    fs.closeSync(devNull);
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const MB = 1e6;
const fmtMs = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));
const fmtRate = (bytes: number, ms: number) => `${(bytes / MB / (ms / 1000)).toFixed(0)}`;

interface Row {
  name: string;
  file: string;
  /** Bytes of model + external data. */
  bytes: number;
}

function main(): void {
  const args = process.argv.slice(2);
  const opt = (name: string, dflt: number): number => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const runs = opt('--runs', 3);
  const bigMb = opt('--big-mb', 512);
  const manyNodes = opt('--nodes', 10_000);
  if (!Number.isInteger(manyNodes) || manyNodes < 1) throw new Error(`--nodes must be a positive integer, got ${manyNodes}`);
  const modelsArg = args.indexOf('--models');
  const models = modelsArg >= 0 ? (args[modelsArg + 1] ?? '') : '';
  const keep = args.includes('--keep');
  const cliArg = args.indexOf('--cli');
  const cli = path.resolve(cliArg >= 0 ? args[cliArg + 1]! : path.join(repoRoot, 'bin/splitc.js'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'splitc-bench-'));
  const cleanup = () => {
    if (!keep) fs.rmSync(tmp, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const log = (s: string) => process.stderr.write(`${s}\n`);
    log(`bench: temp folder ${tmp}`);
    const big = path.join(tmp, 'weight_heavy.onnx');
    const g1 = runChild('gen-big', big, String(bigMb));
    log(`bench: generated ${big} (${(fs.statSync(big).size / MB).toFixed(0)} MB, ${g1.nodes} nodes) in ${fmtMs(g1.ms)} ms`);
    const bigExtDir = fs.mkdtempSync(path.join(tmp, 'ext-'));
    const bigExt = path.join(bigExtDir, 'weight_heavy_ext.onnx');
    runChild('gen-big-external', bigExt, big);
    const many = path.join(tmp, 'many_nodes.onnx');
    const g2 = runChild('gen-many', many, String(manyNodes));
    log(`bench: generated ${many} (${(fs.statSync(many).size / MB).toFixed(1)} MB, ${g2.nodes} nodes)`);

    const sizeWithData = (f: string): number => {
      let n = fs.statSync(f).size;
      const data = `${f}.data`;
      if (fs.existsSync(data)) n += fs.statSync(data).size;
      return n;
    };
    const rows: Row[] = [
      { name: `synthetic weight-heavy (${g1.nodes} nodes)`, file: big, bytes: sizeWithData(big) },
      { name: 'same, external data', file: bigExt, bytes: sizeWithData(bigExt) },
      { name: `synthetic ${g2.nodes} nodes`, file: many, bytes: sizeWithData(many) },
    ];
    const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'fixtures/models/manifest.json'), 'utf8')) as { models: { file: string }[] };
    for (const m of selectModels(manifest.models, models)) {
      const f = path.join(repoRoot, 'fixtures/models', m.file);
      rows.push({ name: m.file.replace(/\.onnx$/, ''), file: f, bytes: sizeWithData(f) });
    }

    syncDisks();
    const baseline = median(Array.from({ length: runs }, () => runChild('baseline', big).maxRssBytes));
    const py = pythonOnnx();
    log(`bench: baseline child RSS ${(baseline / MB).toFixed(0)} MB; python onnx: ${py ?? 'not available'}`);

    const lines: string[] = [];
    lines.push(
      '| model | size MB | read ms | read MB/s | verify ms | write ms | write MB/s | peak RSS read MB (× size) | peak RSS write MB (× size) | onnx.load ms | onnx.save ms | inspect --json ms |',
    );
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const row of rows) {
      log(`bench: ${row.name}`);
      const reads = Array.from({ length: runs }, () => runChild('read', row.file));
      const verifies = Array.from({ length: runs }, () => runChild('verify', row.file));
      const outDir = fs.mkdtempSync(path.join(tmp, 'out-'));
      const writes = Array.from({ length: runs }, (_, i) => {
        syncDisks();
        const r = runChild('write', row.file, path.join(outDir, `w${i}.onnx`));
        fs.rmSync(outDir, { recursive: true, force: true });
        fs.mkdirSync(outDir);
        return r;
      });
      const readMs = median(reads.map((r) => r.ms));
      const writeMs = median(writes.map((r) => r.ms));
      const written = writes[0]!.bytes!;
      const rssRead = median(reads.map((r) => r.maxRssBytes));
      const rssWrite = median(writes.map((r) => r.maxRssBytes));
      const ratio = (rss: number) => `${(rss / MB).toFixed(0)} (${(rss / row.bytes).toFixed(2)}×)`;
      let pyLoad = 'n/a';
      let pySave = 'n/a';
      if (py) {
        const pys = Array.from({ length: runs }, () => {
          syncDisks();
          return runPython(row.file, path.join(outDir, 'py.onnx'));
        });
        pyLoad = fmtMs(median(pys.map((p) => p.load_ms)));
        pySave = fmtMs(median(pys.map((p) => p.save_ms)));
      }
      fs.rmSync(outDir, { recursive: true, force: true });
      const insp = Array.from({ length: runs }, () => timeInspect(cli, row.file));
      const inspOk = insp.filter((r): r is { ms: number } => 'ms' in r);
      const inspect = inspOk.length === insp.length ? fmtMs(median(inspOk.map((r) => r.ms))) : `n/a: ${(insp.find((r) => 'error' in r) as { error: string }).error}`;
      lines.push(
        `| ${row.name} | ${(row.bytes / MB).toFixed(1)} | ${fmtMs(readMs)} | ${fmtRate(row.bytes, readMs)} | ${fmtMs(median(verifies.map((r) => r.ms)))} | ${fmtMs(writeMs)} | ${fmtRate(written, writeMs)} | ${ratio(rssRead)} | ${ratio(rssWrite)} | ${pyLoad} | ${pySave} | ${inspect} |`,
      );
    }
    console.log(lines.join('\n'));
    console.log('');
    console.log(
      `Median of ${runs} fresh child processes per cell (\`node --import tsx\`), warm page cache. ` +
        `Throughput counts model + external data bytes. Peak RSS is the child's maxRSS, including ` +
        `a baseline of ${(baseline / MB).toFixed(0)} MB for an idle child (Node + tsx). ` +
        `Writes are not fsynced (saveModel does not fsync). python3-onnx: ${py ?? 'not installed'}.`,
    );
  } finally {
    cleanup();
  }
}

if (process.argv[2] === '--child') {
  const [, , , op, file, out] = process.argv;
  console.log(JSON.stringify(child(op!, file!, out)));
} else {
  main();
}
