// Runs every code block of README.md and docs/*.md, so that no documented command or program
// goes stale (issue 13). The convention, also in docs/README.md:
//
//   ```sh          commands: each logical line (a trailing `\` continues it) runs in bash, in
//                  order, in a scratch folder that looks like a checkout of splitc (symlinks to
//                  fixtures/, bench/, scripts/, src/, dist/, bin/, package.json and node_modules/,
//                  plus node_modules/splitc → this repo), so relative paths work. `npx splitc` and
//                  `npx tsx` are this checkout's (a shim on PATH). A line must exit 0, or N when
//                  its comment says `# exit N`. `NAME=value` lines set a variable for the later
//                  lines of the file. A line that starts a server (SERVERS below) runs in the
//                  background on a free port of 127.0.0.1 (its `--port` rewritten), the test waits
//                  until it is ready, runs the rest of the block and the js/ts blocks that follow
//                  (up to the next sh block) against it — with `127.0.0.1:<documented port>`
//                  rewritten — then stops it with SIGTERM and expects exit 0.
//   ```js, ```ts   programs: written next to those files and run with node / tsx; `splitc` imports
//                  resolve to this repo (dist/), relative ones to what earlier blocks wrote.
//   ```text, ```json, ```jsonc, ```html   output, schemas, layouts, synopses: not run.
//
// Any other fence (or none) fails the test. Blocks of one file share a scratch folder and run in
// order; files run side by side, and so do the blocks of a file in INDEPENDENT_BLOCKS. Outputs are
// checked by exit code and existence (`-o`/`--out` paths), never by their wording; the README's
// edge program's answer is compared with the unsplit model under onnxruntime-node. Commands that
// are not run, with their reasons, are listed in NEVER_RUN and SKIPS (printed when skipped);
// scripts that would run for minutes get the budgets in BUDGETS, which every benchmark script has
// flags for (fewer runs, fewer or smaller models).

import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR } from '../../src/runtime/train/idx.js';
import { repoRoot, tmpDir } from '../helpers/fixtures.js';
import { type CodeBlock, codeBlocks, shellCommands, shellQuote, shellWords, shellWordsQuoted, splitAndList } from './blocks.js';

const DOCS = ['README.md', ...fs.readdirSync(path.join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const RUN_LANGS = new Set(['sh', 'js', 'ts']);
const NOT_RUN_LANGS = new Set(['text', 'json', 'jsonc', 'html']);

/** Parts of a command (between `&&`) that are never run, matched exactly. */
const NEVER_RUN: Record<string, string> = {
  'npm install': 'installs dependencies: this test runs inside an installed checkout',
  'npm test': 'runs the test suite this test belongs to (recursion)',
  'bash .ci/run': 'runs the test suite this test belongs to (recursion)',
};

/** Commands skipped when a condition holds, each with its reason; matched exactly (comment stripped). */
const hasFashionMnist = (): boolean => fs.existsSync(path.join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));
const SKIPS: { doc: string; command: string; skip: () => boolean; reason: string }[] = [
  ...['README.md', 'docs/autodiff.md'].map((doc) => ({
    doc,
    command: 'npx tsx scripts/train-fashion-mnist.ts --epochs 5 --seed 1',
    skip: () => !hasFashionMnist(),
    reason: `needs Debian's dataset-fashion-mnist in ${FASHION_MNIST_DIR} (.ci/run installs it)`,
  })),
  {
    doc: 'docs/cli.md',
    command: 'npx splitc fed simulate --data fashion-mnist --clients 4 --alpha 0.5 --rounds 2 --train-limit 256 --test-limit 128 --algo spherefed --calibrate --secure --seed 1 -o run/',
    skip: () => !hasFashionMnist(),
    reason: `trains on Debian's dataset-fashion-mnist in ${FASHION_MNIST_DIR} (.ci/run installs it)`,
  },
  {
    doc: 'docs/cli.md',
    command: 'npx splitc fed calibrate fashion-split/ --data fashion-mnist --clients 4 --alpha 0.5 --train-limit 512 --test-limit 256 --secure --seed 1 -o fashion-calibrated/',
    skip: () => !hasFashionMnist(),
    reason: `calibrates on Debian's dataset-fashion-mnist in ${FASHION_MNIST_DIR} (.ci/run installs it)`,
  },
  {
    doc: 'docs/cli.md',
    command:
      'npx splitc fed join http://127.0.0.1:8000 --token-file token.txt --data fashion-mnist --train-limit 256 --clients 2 --client-index 0 --alpha 0.5 --seed 1 & npx splitc fed join http://127.0.0.1:8000 --token-file token.txt --data fashion-mnist --train-limit 256 --clients 2 --client-index 1 --alpha 0.5 --seed 1 && wait $!',
    skip: () => !hasFashionMnist(),
    reason: `trains on Debian's dataset-fashion-mnist in ${FASHION_MNIST_DIR} (.ci/run installs it; the coordinator then waits and is stopped)`,
  },
  ...['npx tsx bench/federated.ts --parts accuracy --clients 10 --per-client 1200 --rounds 12 --local-epochs 1 --alpha 0.1', 'npx tsx bench/federated.ts --repeats 3'].map((command) => ({
    doc: 'docs/benchmarks.md',
    command,
    skip: () => !hasFashionMnist(),
    reason: `trains and scores on Debian's dataset-fashion-mnist in ${FASHION_MNIST_DIR} (.ci/run installs it)`,
  })),
  {
    doc: 'docs/benchmarks.md',
    command: 'npx tsx bench/compress.ts --epochs 3',
    skip: () => !hasFashionMnist(),
    reason: `trains and scores on Debian's dataset-fashion-mnist in ${FASHION_MNIST_DIR} (.ci/run installs it)`,
  },
];

/** The smallest fixture model (fixtures/models/manifest.json), the one benchmarks run on under a budget. */
const SMALLEST_FIXTURE = 'ch_ppocr_mobile_v2.0_cls_infer';

/**
 * Every script run with `npx tsx` needs an entry: the flags set to small values (replaced when
 * the command has them, else added) so that it runs in seconds, not minutes. Their results mean
 * nothing; the run checks that the documented command still starts, parses its flags and
 * finishes. Each script must also read every flag its documented commands pass (checked in its
 * source, since the scripts ignore unknown flags). The benchmarks do fixed work per model, so
 * most run on the smallest fixture only (`--models`, a file name without .onnx).
 */
interface Budget {
  set: Record<string, string>;
  add?: string[];
  why: string;
}
const BUDGETS: Record<string, Budget> = {
  'scripts/train-fashion-mnist.ts': {
    set: { '--epochs': '1', '--limit': '128', '--test-limit': '256', '-o': 'fashion_mnist_resnet.onnx' },
    why: 'one epoch of 128 images (2 steps) instead of 5 × 60,000, scored on 256 test images (not 10,000, twice: most of the run); written into the scratch folder, never over the fixture',
  },
  'bench/ingest.ts': {
    set: { '--runs': '1', '--big-mb': '8', '--nodes': '300', '--models': SMALLEST_FIXTURE },
    why: 'one run each; synthetic models of 8 MB (not 512) and 300 nodes (not 10,000); of the fixtures the classifier only',
  },
  'bench/split.ts': {
    set: { '--runs': '1', '--warmup': '1', '--models': SMALLEST_FIXTURE },
    why: 'the classifier only (one bundle: its build is most of the run), one timed request per mode instead of 100 (after 1 warm-up, not 20)',
  },
  'bench/compress-bytes.ts': { set: { '--models': SMALLEST_FIXTURE }, why: 'the classifier only (every compression still calibrated and counted)' },
  'bench/serve.ts': { set: { '--duration': '0.3', '--warmup': '0.1' }, why: '0.3 s per row instead of 30 s, 0.1 s warm-up' },
  'bench/fuzz-server.ts': { set: { '--cases': '200', '--seeds': '1' }, why: '200 requests with one seed instead of 50,000 with three' },
  'bench/soak.ts': {
    set: { '--duration': '2', '--settle': '1', '--slow': '4', '--bombs': '2', '--oversized': '2', '--json': '2', '--malformed': '4' },
    why: '2 s per run and 1 s to settle instead of 60 s and 30 s, fewer adversaries',
  },
  'bench/search-speed.ts': {
    set: { '--runs': '1', '--nodes': '1000', '--models': SMALLEST_FIXTURE },
    why: 'one search per model instead of 5, on a 1,000-node synthetic DAG (not 10,000) and the classifier',
  },
  'bench/costmodel.ts': {
    set: { '--trials': '1', '--repeats': '1', '--warmup': '0', '--models': SMALLEST_FIXTURE },
    why: 'one trial of one timed run per part, on the classifier only (its profile still settles wasm for ≥ 1 s per level)',
  },
  'bench/plan.ts': {
    set: { '--links': '100', '--budget-s': '0', '--warmup-s': '0', '--models': SMALLEST_FIXTURE, '--edge-profile': 'phone-wasm', '--cloud-profile': 'cloud-cpu' },
    add: ['--chosen-only'],
    why:
      'the classifier on one link, 2 warm-up + 3 timed runs per configuration; planned with presets instead of profiling this machine first (bench/costmodel.ts runs the profiler); ' +
      'a bundle only for the chosen plan (building one is most of a run)',
  },
  'bench/autodiff.ts': {
    set: { '--runs': '1', '--train-steps': '1', '--rounds': '1', '--models': 'fashion_mnist_resnet', '--warmup': '0', '--batch': '8' },
    add: ['--no-torch'],
    why: 'one run per measurement and no warm-up, (a) on the trained ResNet only, one training step of batch 8; --no-torch: the PyTorch peer needs python3-torch, which may be absent',
  },
  'bench/audit.ts': {
    set: { '--steps': '5', '--warmup': '1', '--rounds': '1', '--batches': '1', '--threads': '1', '--models': 'fashion_mnist_resnet', '--cut-steps': '5' },
    add: ['--no-torch'],
    why: '5 attack steps per measurement at batch 1 and 1 thread, one round; the whole cuts of the ResNet only, 5 steps each instead of the budget; --no-torch: the PyTorch peer needs python3-torch',
  },
  'bench/fuzz-models.ts': { set: { '--cases': '200' }, why: '200 cases instead of 20,000 (tests/cli/model-fuzz.test.ts runs 4,000 in CI)' },
  'bench/audit-depth.ts': {
    set: { '--budget': 'fast', '--models': 'fashion', '--attacks': 'whitebox', '--max-probes': '1' },
    why: 'the white-box attack alone at budget fast on one Fashion-MNIST probe (the documented run trains decoders and data-free inverses at every cut of two models: minutes)',
  },
  'bench/federated.ts': {
    set: { '--samples': '64', '--epochs': '2', '--repeats': '1', '--updates': '3', '--clients': '2', '--per-client': '64', '--rounds': '1', '--test-limit': '64', '--threads': '1' },
    add: ['--no-torch'],
    why: 'one client trains 64 samples (a warm-up and one timed epoch, 1 thread), 3 updates averaged, 2 clients of 64 Fashion-MNIST images for one round scored on 64 test images; --no-torch: the PyTorch peer needs python3-torch, which may be absent',
  },
  'bench/learn-speed.ts': {
    set: { '--samples': '128', '--epochs': '2', '--rounds': '1', '--threads': '1' },
    add: ['--no-torch'],
    why: '128 samples, one warm-up and one timed epoch, one round, 1 thread; --no-torch: the PyTorch peer needs python3-torch, which may be absent',
  },
  'bench/compress.ts': {
    set: { '--specs': 'none,int8,learned=8+int4', '--epochs': '1', '--train-limit': '96', '--held': '32', '--calib': '32', '--test-limit': '32' },
    why: 'three compression rows (a coder and a learned stage), the learned one trained one epoch on 64 training inputs (not 3 on 59,000 images or 5,800 and 800 rendered ones) and scored on 32 test inputs',
  },
  'bench/learned-plan.ts': {
    set: {
      '--links': '100', '--edge-slowdown': '1', '--edge-profile': 'phone-wasm', '--cloud-profile': 'cloud-cpu', '--budget-s': '0', '--warmup-s': '0',
      '--train-images': '64', '--calib-images': '32', '--epochs': '1', '--learned-options': 'learned=16/s2+int4', '--best-splits': '0', '--cache': 'none',
    },
    why: 'one link and presets instead of profiling this machine (both plans then choose edge-only, so nothing is built or trained), 2 warm-up + 3 timed runs per configuration; 64 training and 32 calibration images, 1 epoch, no cache',
  },
};

/**
 * Files whose blocks run side by side rather than in order: their commands are all budgeted
 * `npx tsx` scripts (checked), which read only the checkout, so no block uses another's output.
 * docs/benchmarks.md's benchmarks would otherwise take longer one after the other than the rest
 * of this file together.
 */
const INDEPENDENT_BLOCKS = new Set(['docs/benchmarks.md']);

/** Commands that start a server (the last part of an `&&` list), with the port they use when given none. */
const SERVERS: { match: (words: string[]) => boolean; defaultPort: number }[] = [
  { match: (w) => w[0] === 'npx' && w[1] === 'splitc' && w[2] === 'serve', defaultPort: 8000 },
  { match: (w) => w[0] === 'npx' && w[1] === 'splitc' && w[2] === 'fed' && w[3] === 'serve', defaultPort: 8000 },
  { match: (w) => w[0] === 'node' && /(^|\/)cloud\/server\.js$/.test(w[1] ?? ''), defaultPort: 8000 },
  { match: (w) => w[0] === 'node' && /(^|\/)dist\/runtime\/serve-main\.js$/.test(w[1] ?? ''), defaultPort: 8000 },
];

/** What the checkout links into each scratch folder. */
const LINKED = ['fixtures', 'bench', 'scripts', 'src', 'dist', 'bin', 'package.json'];

const log = (s: string): void => void process.stdout.write(`[docs] ${s}\n`);
/** Budgeted script runs by command: the same command in two files (they read only the checkout) runs once. */
const scriptRuns = new Map<string, { where: string; result: Promise<RunResult> }>();

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess): Promise<RunResult> {
  const keep = (s: string): string => (s.length > 200_000 ? s.slice(-200_000) : s);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => void (stdout = keep(stdout + d.toString())));
  child.stderr?.on('data', (d: Buffer) => void (stderr = keep(stderr + d.toString())));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function tail(s: string, lines = 15): string {
  return s.trimEnd().split('\n').slice(-lines).join('\n');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A scratch folder that looks like a checkout, with `npx` limited to this checkout's splitc and tsx. */
function makeScratch(): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = tmpDir('splitc-docs-');
  for (const entry of LINKED) fs.symlinkSync(path.join(repoRoot, entry), path.join(dir, entry));
  const modules = path.join(dir, 'node_modules');
  fs.mkdirSync(modules);
  for (const entry of fs.readdirSync(path.join(repoRoot, 'node_modules'))) fs.symlinkSync(path.join(repoRoot, 'node_modules', entry), path.join(modules, entry));
  fs.symlinkSync(repoRoot, path.join(modules, 'splitc'));
  const bin = path.join(dir, '.docs-bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(
    path.join(bin, 'npx'),
    [
      '#!/bin/sh',
      '# npx for tests/docs/examples.test.ts: this checkout\'s splitc and tsx only.',
      'case "$1" in',
      `  splitc) shift; exec ${shellQuote(process.execPath)} ${shellQuote(path.join(repoRoot, 'bin/splitc.js'))} "$@" ;;`,
      `  tsx) shift; exec ${shellQuote(path.join(repoRoot, 'node_modules/.bin/tsx'))} "$@" ;;`,
      'esac',
      'echo "docs test: npx $1 is not available here (only splitc and tsx)" >&2',
      'exit 127',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return { dir, env: { ...process.env, PATH: `${bin}:${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` } };
}

/** The size and mtime of every file under fixtures/: documented commands must never write there. */
function fixturesSnapshot(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = fs.statSync(p);
        out.set(path.relative(repoRoot, p), `${st.size}@${st.mtimeMs}`);
      }
    }
  };
  walk(path.join(repoRoot, 'fixtures'));
  return out;
}

/** `words` with the budget of its script applied (the command has no shell syntax: checked). */
function withBudget(words: string[], budget: Budget): string[] {
  const out = [...words];
  for (const [flag, value] of Object.entries(budget.set)) {
    const i = out.indexOf(flag);
    if (i >= 0) out[i + 1] = value;
    else out.push(flag, value);
  }
  for (const flag of budget.add ?? []) if (!out.includes(flag)) out.push(flag);
  return out;
}

/** Whether a script's source reads `--flag` (a string literal `flag` or `--flag`, or a parseArgs option key). */
function scriptReadsFlag(source: string, flag: string): boolean {
  const name = flag.replace(/^--/, '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(['"\`])(--)?${name}\\1|^\\s*${name}\\s*:\\s*\\{`, 'm').test(source);
}

const blocksByDoc = new Map(DOCS.map((doc) => [doc, codeBlocks(fs.readFileSync(path.join(repoRoot, doc), 'utf8'), doc)]));
const documentedCommands = [...blocksByDoc.values()].flat().filter((b) => b.lang === 'sh').flatMap((b) => shellCommands(b).map((cmd) => ({ doc: b.file, ...cmd })));

describe('README.md and docs/*.md', () => {
  it('every SKIPS and BUDGETS entry matches a documented command', () => {
    expect(SKIPS.filter((s) => !documentedCommands.some((c) => c.doc === s.doc && c.text === s.command)).map((s) => `${s.doc}: ${s.command}`)).toEqual([]);
    const scripts = new Set(documentedCommands.map((c) => shellWords(c.text)).filter((w) => w[0] === 'npx' && w[1] === 'tsx').map((w) => w[2]));
    expect(Object.keys(BUDGETS).filter((s) => !scripts.has(s))).toEqual([]);
  });

  it('every code block says what it is: sh, js or ts (run), or text, json, jsonc, html (not run)', () => {
    const bad = [...blocksByDoc.values()].flat().filter((b) => !RUN_LANGS.has(b.lang) && !NOT_RUN_LANGS.has(b.lang));
    expect(bad.map((b) => `${b.file}:${b.line} \`\`\`${b.lang}`)).toEqual([]);
  });

  it("README's first block is the install-and-inspect command and the test command", () => {
    const first = blocksByDoc.get('README.md')![0]!;
    expect(first.lang).toBe('sh');
    const lines = first.text.split('\n').map((l) => l.trim()).filter(Boolean);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^npm install && npx splitc inspect \S/);
    expect(lines[1]).toBe('npm test');
    // `npm test` is the suite CI runs (.ci/run), and this file is part of it.
    expect(JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).scripts.test).toMatch(/vitest run/);
    expect(fs.readFileSync(path.join(repoRoot, '.ci/run'), 'utf8')).toMatch(/^npm test$/m);
  });

  it('every script run with npx tsx exists and reads the flags its documented commands pass', () => {
    const missing: string[] = [];
    for (const cmd of documentedCommands) {
      const words = shellWords(cmd.text);
      if (words[0] !== 'npx' || words[1] !== 'tsx') continue;
      const script = words[2]!;
      const file = path.join(repoRoot, script);
      if (!fs.existsSync(file)) {
        missing.push(`${cmd.doc}:${cmd.line}: ${script} does not exist`);
        continue;
      }
      const source = fs.readFileSync(file, 'utf8');
      // Quoted words are values (`--server-args "--session-on-main-thread"`), not the script's flags.
      const flags = shellWordsQuoted(cmd.text).slice(3).filter((w) => !w.quoted && w.text.startsWith('--'));
      // The budget's flags must exist too, or the "reduced" run is the full one.
      const budget = BUDGETS[script];
      for (const flag of [...flags.map((w) => w.text), ...Object.keys(budget?.set ?? {}), ...(budget?.add ?? [])]) {
        if (!scriptReadsFlag(source, flag)) missing.push(`${cmd.doc}:${cmd.line}: ${script} does not read ${flag}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('the blocks of INDEPENDENT_BLOCKS files hold only npx tsx script commands', () => {
    const bad: string[] = [];
    for (const doc of INDEPENDENT_BLOCKS) {
      for (const b of blocksByDoc.get(doc) ?? []) {
        if (!RUN_LANGS.has(b.lang)) continue;
        if (b.lang !== 'sh') bad.push(`${doc}:${b.line}: a ${b.lang} program`);
        else for (const cmd of shellCommands(b)) if (!/^npx tsx \S/.test(cmd.text) || splitAndList(cmd.text).length > 1) bad.push(`${doc}:${cmd.line}: ${cmd.text}`);
      }
    }
    expect(bad).toEqual([]);
  });
});

// Files run side by side (each in its own scratch folder); the blocks of one file run one after
// the other, each waiting for the one before (a failed block fails the rest of its file), except
// in INDEPENDENT_BLOCKS files.
const fixturesBefore = fixturesSnapshot();
describe.concurrent('documented examples', () => {
  for (const doc of DOCS) {
    const blocks = blocksByDoc.get(doc)!;
    const runnable = blocks.filter((b) => RUN_LANGS.has(b.lang));
    if (runnable.length === 0) continue;

    describe(doc, () => {
      let scratch: { dir: string; env: NodeJS.ProcessEnv };
      let previous: Promise<string | null> = Promise.resolve(null);
      /** `NAME=value` lines seen so far, prepended to every later command. */
      const assignments: string[] = [];
      let server: { child: ChildProcess; port: number; documentedPort: number; exit: Promise<RunResult>; label: string } | null = null;

      beforeAll(() => {
        scratch = makeScratch();
      });
      afterAll(async () => {
        if (server) server.child.kill('SIGKILL');
        if (scratch) fs.rmSync(scratch.dir, { recursive: true, force: true });
      });

      const rewritePorts = (text: string): string =>
        server ? text.replace(new RegExp(`\\b(127\\.0\\.0\\.1|localhost):${server.documentedPort}\\b`, 'g'), `127.0.0.1:${server.port}`) : text;

      function bash(script: string): Promise<RunResult> {
        const child = spawn('bash', ['-c', `set -o pipefail\n${assignments.join('\n')}\n${script}`], { cwd: scratch.dir, env: scratch.env, stdio: ['ignore', 'pipe', 'pipe'] });
        return collect(child);
      }

      async function stopServer(): Promise<void> {
        if (!server) return;
        const { child, exit, label } = server;
        server = null;
        child.kill('SIGTERM');
        const r = await exit;
        expect(r.code, `${label} after SIGTERM:\n${tail(r.stderr)}`).toBe(0);
      }

      async function startServer(command: string, where: string): Promise<void> {
        const documented = /--port[ =](\d+)/.exec(command);
        const def = SERVERS.find((s) => s.match(shellWords(command)))!;
        const port = await freePort();
        const text = documented ? command.replace(/--port[ =]\d+/, `--port ${port}`) : `${command} --port ${port}`;
        log(`${where}: server in the background: ${text}`);
        const child = spawn('bash', ['-c', `${assignments.join('\n')}\nexec ${text}`], { cwd: scratch.dir, env: scratch.env, stdio: ['ignore', 'pipe', 'pipe'] });
        const exit = collect(child);
        server = { child, port, documentedPort: documented ? Number(documented[1]) : def.defaultPort, exit, label: `${where}: ${text}` };
        let exited: RunResult | null = null;
        void exit.then((r) => (exited = r));
        const deadline = Date.now() + 120_000;
        for (;;) {
          if (exited) {
            server = null;
            const r = exited as RunResult;
            throw new Error(`${where}: the server exited with ${r.code ?? r.signal} before it was ready:\n${tail(r.stderr)}`);
          }
          const ready = await fetch(`http://127.0.0.1:${port}/v2/health/ready`).then(
            (res) => res.ok,
            () => false,
          );
          if (ready) return;
          if (Date.now() > deadline) throw new Error(`${where}: the server was not ready on port ${port} after 120 s`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }

      async function runCommand(cmd: { line: number; text: string; comment: string }): Promise<void> {
        const where = `${doc}:${cmd.line}`;
        if (/^[A-Za-z_]\w*=[^\s;&|`$()]*$/.test(cmd.text)) {
          assignments.push(cmd.text);
          return;
        }
        const skip = SKIPS.find((s) => s.doc === doc && s.command === cmd.text);
        if (skip?.skip()) {
          log(`${where}: skipped (${skip.reason}): ${cmd.text}`);
          return;
        }
        const parts = splitAndList(cmd.text).filter((part) => {
          if (!(part in NEVER_RUN)) return true;
          log(`${where}: not run (${NEVER_RUN[part]}): ${part}`);
          return false;
        });
        if (parts.length === 0) return;

        const last = parts[parts.length - 1]!;
        const lastWords = shellWords(last);
        if (SERVERS.some((s) => s.match(lastWords))) {
          expect(server, `${where}: a second server while one runs`).toBeNull();
          if (parts.length > 1) {
            const r = await bash(rewritePorts(parts.slice(0, -1).join(' && ')));
            expect(r.code, `${where}: ${parts.slice(0, -1).join(' && ')}\n${tail(r.stderr)}`).toBe(0);
          }
          await startServer(last, where);
          return;
        }

        let text = rewritePorts(parts.join(' && '));
        if (lastWords[0] === 'npx' && lastWords[1] === 'tsx') {
          const script = lastWords[2]!;
          const budget = BUDGETS[script];
          expect(budget, `${where}: ${script} has no entry in BUDGETS (how to run it in seconds)`).toBeDefined();
          expect(parts, `${where}: a script run with a budget must be a plain command`).toHaveLength(1);
          expect(last, `${where}: a script run with a budget must be a plain command`).not.toMatch(/[|;<>$`]/);
          text = withBudget(lastWords, budget!).map(shellQuote).join(' ');
        }
        const expected = Number(/^exit (\d+)\b/.exec(cmd.comment)?.[1] ?? 0);
        const earlier = scriptRuns.get(text);
        if (earlier) {
          log(`${where}: the same command as ${earlier.where}, run once: ${text}`);
          const r = await earlier.result;
          expect(r.code, `${where} (run at ${earlier.where}): ${text}\nstdout:\n${tail(r.stdout)}\nstderr:\n${tail(r.stderr)}`).toBe(expected);
          return;
        }
        const t0 = performance.now();
        const running = bash(text);
        if (lastWords[1] === 'tsx') scriptRuns.set(text, { where, result: running });
        const r = await running;
        log(`${where} (${((performance.now() - t0) / 1000).toFixed(1)} s): ${text}`);
        expect(r.code, `${where}: ${text}\nstdout:\n${tail(r.stdout)}\nstderr:\n${tail(r.stderr)}`).toBe(expected);
        if (expected === 0 && lastWords[0] === 'npx') {
          const words = shellWords(text);
          for (const flag of ['-o', '--out']) {
            const i = words.indexOf(flag);
            if (i >= 0) expect(fs.existsSync(path.join(scratch.dir, words[i + 1]!)), `${where}: ${flag} ${words[i + 1]} was not written`).toBe(true);
          }
        }
      }

      async function runProgram(block: CodeBlock): Promise<void> {
        const where = `${doc}:${block.line}`;
        const file = `${doc.replace(/[/.]/g, '-')}-${block.line}.${block.lang === 'ts' ? 'ts' : 'mjs'}`;
        const source = rewritePorts(block.text);
        fs.writeFileSync(path.join(scratch.dir, file), `${source}\n`);
        const runner = block.lang === 'ts' ? path.join(repoRoot, 'node_modules/.bin/tsx') : process.execPath;
        const t0 = performance.now();
        const r = await collect(spawn(runner, [file], { cwd: scratch.dir, env: scratch.env, stdio: ['ignore', 'pipe', 'pipe'] }));
        log(`${where} (${((performance.now() - t0) / 1000).toFixed(1)} s): ${block.lang} program ${file}`);
        expect(r.code, `${where}: ${file}\nstdout:\n${tail(r.stdout)}\nstderr:\n${tail(r.stderr)}`).toBe(0);
        if (/\bcreateEdge\(/.test(block.text)) await checkEdgeAnswer(block, r.stdout);
      }

      /**
       * The README's edge program prints the answer it got through the served cloud half as JSON:
       * it must have the dims and dtype of the unsplit model's output under onnxruntime-node.
       */
      async function checkEdgeAnswer(block: CodeBlock, stdout: string): Promise<void> {
        const where = `${doc}:${block.line}`;
        const bundle = /from '\.\/(.+)\/edge\/index\.js'/.exec(block.text)?.[1];
        expect(bundle, `${where}: imports no <bundle>/edge/index.js`).toBeDefined();
        const answer = JSON.parse(stdout.trim().split('\n').pop()!) as { dtype: string; dims: number[]; data: number[] };
        const manifest = JSON.parse(fs.readFileSync(path.join(scratch.dir, bundle!, 'manifest.json'), 'utf8')) as {
          source: { file: string };
          signature: { inputs: { name: string; dtype: string; shape: number[] }[] };
        };
        const session = await ort.InferenceSession.create(path.join(repoRoot, 'fixtures/models', manifest.source.file));
        try {
          const feeds: Record<string, ort.Tensor> = {};
          for (const input of manifest.signature.inputs) {
            expect(input.dtype).toBe('float32');
            feeds[input.name] = new ort.Tensor('float32', new Float32Array(input.shape.reduce((a, b) => a * b, 1)), input.shape);
          }
          const reference = await session.run(feeds);
          const name = session.outputNames.find((n) => block.text.includes(`'${n}'`));
          expect(name, `${where}: the program names none of the model's outputs ${session.outputNames.join(', ')}`).toBeDefined();
          const want = reference[name!]!;
          expect({ dtype: answer.dtype, dims: answer.dims }).toEqual({ dtype: want.type, dims: [...want.dims] });
          expect(answer.data).toHaveLength(want.data.length);
          expect(answer.data.every(Number.isFinite)).toBe(true);
        } finally {
          await session.release();
        }
      }

      async function runBlock(block: CodeBlock, index: number): Promise<void> {
        // A server lives until the next sh block (or the end of the file).
        const next = blocks.slice(index + 1).find((b) => RUN_LANGS.has(b.lang));
        const lastClient = !next || next.lang === 'sh';
        try {
          if (block.lang === 'sh') {
            await stopServer();
            for (const cmd of shellCommands(block)) await runCommand(cmd);
          } else await runProgram(block);
        } catch (e) {
          server?.child.kill('SIGKILL');
          server = null;
          throw e;
        }
        if (lastClient) await stopServer();
      }

      blocks.forEach((block, index) => {
        if (!RUN_LANGS.has(block.lang)) return;
        const name = `${doc}:${block.line} (${block.lang})`;
        it(name, { timeout: 900_000 }, async () => {
          if (INDEPENDENT_BLOCKS.has(doc)) return runBlock(block, index);
          let failedBefore: string | null = null;
          const mine = previous.then(async (failed) => {
            failedBefore = failed;
            if (failed) throw new Error(`not run: ${failed} failed`);
            await runBlock(block, index);
          });
          previous = mine.then(
            () => null,
            () => failedBefore ?? name,
          );
          await mine;
        });
      });
    });
  }
});

describe('after the documented examples', () => {
  it('they wrote nothing into fixtures/', () => {
    expect(fixturesSnapshot()).toEqual(fixturesBefore);
  });
});
