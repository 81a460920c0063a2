// Split benchmark: for every fixture (a middle cut, and the detector's five-tensor cut after
// its first Resize) build the bundle, start its cloud/server.js on 127.0.0.1, and time single
// requests (batch 1) from the edge part:
//
// (a) split overhead = end-to-end latency ÷ (edge compute + cloud compute), where edge compute
//     is the edge graph's run inside the same requests and cloud compute is the server's own
//     session.run time for them (splitc_session_run_duration_seconds from /metrics). Edge on
//     onnxruntime-web (wasm, one thread: the generated edge/index.js) and, for reference, on
//     onnxruntime-node (one intra-op thread, the bundle's client).
// (c) bytes per sample at the cut vs the raw float32 input.
//
// Before the measured requests the server gets warm-up requests of its own (JIT, onnxruntime's
// first runs), so neither mode pays for a cold server. Per request, the cloud compute is the
// server's session.run time for that request (its Server-Timing header); the /metrics counters
// confirm that the server ran exactly the measured requests.
//
//   npx tsx bench/split.ts [--runs 100] [--warmup 20] [--compress int8] [--keep]
//                          [--server-args "--session-on-main-thread ..."] [--models stem,…]
//
// --models keeps only the named fixtures (file names without .onnx; default all, which
// docs/benchmarks.md records); the detector's Resize cut runs when the detector is kept.
//
// Prints markdown tables. Temp files go to a folder under os.tmpdir(), removed at the end.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg, selectModels, type ServerChild, startServerChild } from './lib.js';
import type { Manifest } from '../src/codegen/manifest.js';
import type { Model } from '../src/ir/graph.js';
import { loadModel } from '../src/ir/serde/io.js';
import { cutAfterNode } from '../src/passes/cut.js';
import { runSplit } from '../src/cli/split.js';
import { inferShapes } from '../src/passes/shape/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const TOKEN = 'bench-token';

const runs = Number(arg('runs', '100'));
const warmup = Number(arg('warmup', '20'));
// A compression at every cut (calibrated on random samples: the ranges do not matter for timing).
const compress = arg('compress', 'none');
const keep = process.argv.includes('--keep');
// Extra options for every cloud/server.js (e.g. --session-on-main-thread, --intra-op-threads 1).
const serverArgs = arg('server-args', '').split(/\s+/).filter(Boolean);

interface Fixture {
  file: string;
  inputShapes: Record<string, number[]>;
}
const fixtures = selectModels((JSON.parse(fs.readFileSync(path.join(repoRoot, 'fixtures/models/manifest.json'), 'utf8')) as { models: Fixture[] }).models, arg('models', ''));

function middleCut(m: Model): { cut: string[]; label: string } {
  const nodes = [...m.graph.nodes].filter((n) => n.opType !== 'Constant' && n.name);
  const at = nodes[Math.floor(0.5 * (nodes.length - 1))]!.name;
  return { cut: cutAfterNode(m, at), label: `after ${at} (middle)` };
}
function resizeCut(m: Model): { cut: string[]; label: string } {
  const at = [...m.graph.nodes].find((n) => n.opType === 'Resize')!.name;
  return { cut: cutAfterNode(m, at), label: `after ${at} (first Resize)` };
}

const cases = [
  ...fixtures.map((f) => ({ f, cut: middleCut })),
  ...fixtures.filter((f) => f.file.includes('det')).map((f) => ({ f, cut: resizeCut })),
];

interface Timing {
  edgeMs: number;
  cloudRunMs: number;
  serverMs: number;
  totalMs: number;
}

function startServer(bundle: string, tokenFile: string): Promise<ServerChild> {
  return startServerChild([path.join(bundle, 'cloud/server.js'), '--port', '0', '--token-file', tokenFile, ...serverArgs]);
}

/** splitc_session_run_duration_seconds sum and count for the model, from /metrics. */
async function runCounters(url: string): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`${url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
  const num = (suffix: string): number => {
    const m = new RegExp(`^splitc_session_run_duration_seconds_${suffix}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
    if (!m) throw new Error(`no splitc_session_run_duration_seconds_${suffix} in /metrics`);
    return Number(m[1]);
  };
  return { sum: num('sum'), count: num('count') };
}

/** Runs the edge child: `warm` unmeasured requests, then `n` timed ones (checked against the server's run count). */
async function measure(bundle: string, url: string, mode: 'web' | 'node', warm: number, n: number): Promise<Timing[]> {
  const child = spawn(process.execPath, [path.join(here, 'split-edge.mjs'), bundle, url, TOKEN, mode, String(warm), String(n)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  let before: { sum: number; count: number } | undefined;
  const done = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', async (d: Buffer) => {
      out += d.toString();
      if (!before && out.startsWith('warm\n')) {
        before = await runCounters(url);
        child.stdin.write('go\n');
      }
    });
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`edge child (${mode}) exited with ${code}`))));
  });
  const text = await done;
  const after = await runCounters(url);
  const timings = JSON.parse(text.slice('warm\n'.length)) as Timing[];
  const count = after.count - before!.count;
  if (count !== n) throw new Error(`server counted ${count} runs, expected ${n}`);
  if (timings.some((t) => typeof t.cloudRunMs !== 'number' || typeof t.serverMs !== 'number')) throw new Error('the server sent no Server-Timing run/total durations');
  return timings;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 ? s[k]! : (s[k - 1]! + s[k]!) / 2;
};
const fmt = (x: number, d = 2): string => x.toFixed(d);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'splitc-bench-split-'));
fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(tmp, 'node_modules'), 'dir');
const tokenFile = path.join(tmp, 'token');
fs.writeFileSync(tokenFile, TOKEN);

const overheadRows: string[] = [];
const bytesRows: string[] = [];
try {
  for (const [i, { f, cut }] of cases.entries()) {
    const file = path.join(repoRoot, 'fixtures/models', f.file);
    const m = loadModel(file);
    inferShapes(m, { inputShapes: f.inputShapes });
    const { label } = cut(m);
    const bundle = path.join(tmp, `b${i}`);
    const atNode = label.replace(/^after (\S+).*$/, '$1');
    const manifest: Manifest = (
      await runSplit(
        { model: file, shapes: f.inputShapes, cutAfter: atNode, compress, ...(compress !== 'none' ? { calib: 'random:8' } : {}), outDir: bundle, toolVersion: '0.1.0' },
      )
    ).result.manifest;
    const name = f.file.replace(/\.onnx$/, '');
    const server = await startServer(bundle, tokenFile);
    try {
      const cells: string[] = [];
      await measure(bundle, server.url, 'node', warmup, 0); // warm the server
      for (const mode of ['web', 'node'] as const) {
        const timings = await measure(bundle, server.url, mode, warmup, runs);
        const edge = mean(timings.map((t) => t.edgeMs));
        const cloud = mean(timings.map((t) => t.cloudRunMs));
        const total = mean(timings.map((t) => t.totalMs));
        const serverRest = mean(timings.map((t) => t.serverMs - t.cloudRunMs));
        const overhead = total / (edge + cloud);
        const medianOverhead = median(timings.map((t) => t.totalMs / (t.edgeMs + t.cloudRunMs)));
        cells.push(fmt(edge), fmt(cloud), fmt(total), fmt(total - edge - cloud), fmt(serverRest), `**${fmt(overhead, 3)}**`, `**${fmt(medianOverhead, 3)}**`);
        process.stderr.write(`${name} ${mode}: edge ${fmt(edge)} ms, cloud compute ${fmt(cloud)} ms, end to end ${fmt(total)} ms → ${fmt(overhead, 3)} (median ${fmt(medianOverhead, 3)})\n`);
      }
      overheadRows.push(`| ${name} | ${label} | ${manifest.wire.length} | ${cells.join(' | ')} |`);
    } finally {
      await server.stop();
    }
    const raw = manifest.bytesPerSample.rawInputs;
    const wire = manifest.bytesPerSample.wire;
    bytesRows.push(`| ${name} | ${label} | ${manifest.wire.length} | ${compress} | ${raw} | ${wire} | ${fmt(wire / raw, 3)} |`);
  }
} finally {
  if (!keep) fs.rmSync(tmp, { recursive: true, force: true });
  else process.stderr.write(`kept ${tmp}\n`);
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(
  `Node ${process.version}, ${os.cpus().length} × ${cpu}; compression ${compress}; ${runs} requests per mode after ${warmup} warm-up requests (and ${warmup} to warm the server), one at a time (batch 1), loopback; server options: ${serverArgs.join(' ') || 'defaults'}.\n`,
);
console.log(
  '(a) Split overhead: end to end ÷ (edge compute + cloud compute). Times are means over the requests in ms; "rest" = end to end − edge − cloud (encoding, HTTP on loopback, server bookkeeping, decoding), "server" the part of it inside the server\'s handler (its Server-Timing total − run). "overhead" is the ratio of the means, "median" the median of the per-request ratios.\n',
);
console.log(
  '| model | cut | wire tensors | web: edge | web: cloud | web: end to end | web: rest | web: server | web: overhead | web: median | node: edge | node: cloud | node: end to end | node: rest | node: server | node: overhead | node: median |',
);
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of overheadRows) console.log(r);
console.log('\n(c) Bytes per sample at the cut vs the raw float32 input.\n');
console.log('| model | cut | wire tensors | compression | raw input B | wire B | wire ÷ raw |');
console.log('|---|---|---:|---|---:|---:|---:|');
for (const r of bytesRows) console.log(r);
