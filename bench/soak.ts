// Soak benchmark: `splitc serve` (the PaddleOCR classifier, default limits) under 16
// keep-alive clients for a clean run, then the same clients mixed with adversarial traffic
// (slow uploads, decompression bombs, batches over --max-rows, JSON over --max-json-bytes,
// malformed requests), then idle. Checks the goals of issue 15:
//   - zero errors for the well-behaved clients, and their p99 latency within 2× of the clean run;
//   - server RSS within the bound docs/serving.md states (## Memory), and back within 1.2× of
//     its start `--settle` seconds after the load ends.
//
//   npx tsx bench/soak.ts [--duration 60] [--settle 30] [--clients 16] [--slow 32]
//                         [--bombs 4] [--oversized 4] [--json 4] [--malformed 20]
//
// --slow is a number of connections; the other adversaries are requests per second each
// (0: none). At the defaults the adversaries upload ~100 MB/s (oversized batches of 11 MiB,
// JSON bodies of 13 MiB, both uploaded whole): a gigabit link's worth.
//
// The server runs in a child process (`node --import tsx src/cli/main.ts serve`), the
// well-behaved clients in this one and the adversaries in another (this script with
// --adversaries-at PORT), so that neither's event loop delays the other's; all share the
// machine's cores.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { concatChunks, encodeInferRequest } from '../src/runtime/kserve.js';
import { arg, memoryOf, seededFloats, serverPid, startServerChild } from './lib.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MODEL = path.join(repoRoot, 'fixtures/models/ch_ppocr_mobile_v2.0_cls_infer.onnx');
const TOKEN = 'soak-token';
const ROW = 3 * 48 * 192;
const MiB = 2 ** 20;
// the server's defaults (docs/serving.md)
const MAX_BODY = 64 * MiB;
const MAX_BUFFERED = 4 * MAX_BODY;
const MAX_ROWS = 64;
const MAX_JSON = 8 * MiB;

const durationS = Number(arg('duration', '60'));
const settleS = Number(arg('settle', '30'));
const clients = Number(arg('clients', '16'));
const slowCount = Number(arg('slow', '32'));
const bombRate = Number(arg('bombs', '4'));
const oversizedRate = Number(arg('oversized', '4'));
const jsonRate = Number(arg('json', '4'));
const malformedRate = Number(arg('malformed', '20'));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function binaryRequest(rows: number, seed = rows): { body: Buffer; headers: Record<string, string | number> } {
  const enc = encodeInferRequest([{ name: 'x', datatype: 'FP32', shape: [rows, 3, 48, 192], data: seededFloats(rows * ROW, seed) }]);
  return {
    body: Buffer.from(concatChunks(enc.chunks)),
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': enc.contentType, 'Inference-Header-Content-Length': enc.jsonLength! },
  };
}

/** One request; resolves with the status (0 on a network error) and the milliseconds it took. */
function request(port: number, agent: http.Agent | false, body: Buffer, headers: Record<string, string | number>): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v2/models/cls/infer', agent, headers: { ...headers, 'Content-Length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
      res.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
    });
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
    req.end(body);
  });
}

interface Run {
  label: string;
  requests: number;
  errors: number;
  seconds: number;
  latencies: number[];
  statuses: Record<string, number>;
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** `clients` keep-alive loops of 1-row binary requests for `seconds`. */
async function wellBehaved(port: number, label: string, seconds: number): Promise<Run> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const one = binaryRequest(1, 7);
  const run: Run = { label, requests: 0, errors: 0, seconds, latencies: [], statuses: {} };
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const r = await request(port, agent, one.body, one.headers);
        run.requests++;
        run.latencies.push(r.ms);
        run.statuses[r.status] = (run.statuses[r.status] ?? 0) + 1;
        if (r.status !== 200) run.errors++;
      }
    }),
  );
  agent.destroy();
  run.latencies.sort((a, b) => a - b);
  return run;
}

/** The adversaries, until `stop()`; counts what each got back. */
function adversaries(port: number): { stop: () => Promise<Record<string, Record<string, number>>> } {
  let stopped = false;
  const got: Record<string, Record<string, number>> = {};
  const count = (kind: string, status: number | string): void => {
    got[kind] ??= {};
    got[kind][status] = (got[kind][status] ?? 0) + 1;
  };
  const loops: Promise<void>[] = [];
  /** `perSecond` requests a second from as many loops (each starts one a second at most), or `n` back-to-back loops. */
  const loop = (kind: string, perSecond: number, once: () => Promise<number | string>, paced = true): void => {
    for (let i = 0; i < Math.ceil(perSecond); i++) {
      loops.push(
        (async () => {
          await sleep(Math.random() * 1000);
          while (!stopped) {
            const t0 = performance.now();
            count(kind, await once());
            if (paced) await sleep(Math.max(0, 1000 - (performance.now() - t0)));
          }
        })(),
      );
    }
  };
  // slow uploads: a chunked body of one byte every 2 s, reopened when answered
  loop('slow upload', slowCount, () =>
    new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let reply = '';
      const timer = setInterval(() => (stopped ? s.destroy() : s.write('1\r\n \r\n')), 2000);
      s.on('data', (d: Buffer) => (reply += d.toString('latin1')));
      s.on('error', () => {});
      s.on('close', () => {
        clearInterval(timer);
        resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(reply)?.[1] ?? 0) || 'closed');
      });
      s.write(`POST /v2/models/cls/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
    }),
    false,
  );
  // decompression bombs: a valid header declaring a batch at --max-rows, then 256 MiB of
  // zeros, ~256 KiB gzipped; and 256 MiB of zeros as a JSON body
  const atLimit = binaryRequest(MAX_ROWS, 11);
  const headerLength = Number(atLimit.headers['Inference-Header-Content-Length']);
  const zeros = Buffer.alloc(256 * MiB);
  const bomb = zlib.gzipSync(Buffer.concat([atLimit.body.subarray(0, headerLength), zeros]), { level: 9 });
  const bombHeaders = { ...atLimit.headers, 'Content-Encoding': 'gzip' };
  const jsonBomb = zlib.gzipSync(zeros, { level: 9 });
  const jsonBombHeaders = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' };
  loop('bomb (binary header)', bombRate / 2, async () => (await request(port, false, bomb, bombHeaders)).status);
  loop('bomb (JSON)', bombRate / 2, async () => (await request(port, false, jsonBomb, jsonBombHeaders)).status);
  // a batch over --max-rows (100 rows, 11 MiB), uploaded whole
  const over = binaryRequest(MAX_ROWS + 36, 3);
  loop('oversized batch', oversizedRate, async () => (await request(port, false, over.body, over.headers)).status);
  // JSON over --max-json-bytes
  const bigJson = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [24, 3, 48, 192], data: Array.from(seededFloats(24 * ROW, 5)) }] }));
  if (bigJson.length <= MAX_JSON) throw new Error('the JSON adversary must exceed --max-json-bytes');
  loop('JSON over the limit', jsonRate, async () => (await request(port, false, bigJson, { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' })).status);
  // malformed request lines and headers
  const junk = ['GET //[ HTTP/1.1\r\n\r\n', 'POST /v2/models/cls/infer HTTP/1.1\r\nContent-Length: x\r\n\r\n', '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03', 'GET / HTTP/9.9\r\n\r\n'];
  let j = 0;
  loop('malformed', malformedRate, () =>
    new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let reply = '';
      s.on('data', (d: Buffer) => (reply += d.toString('latin1')));
      s.on('error', () => {});
      s.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(reply)?.[1] ?? 0) || 'closed'));
      s.end(junk[j++ % junk.length]!);
    }),
  );
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      return got;
    },
  };
}

// ---------------------------------------------------------------------------------------

/** Runs the adversaries in a child process until stopped; resolves with what they got back. */
function adversaryProcess(port: number): { ready: Promise<void>; stop: () => Promise<Record<string, Record<string, number>>> } {
  const passed = process.argv.slice(2);
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...passed, '--adversaries-at', String(port)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (out.includes('adversaries running\n')) resolve();
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => reject(new Error(`the adversaries exited with ${code}`)));
  });
  return {
    ready,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve(JSON.parse(out.slice(out.indexOf('adversaries running\n') + 20)) as Record<string, Record<string, number>>));
        child.stdin!.end();
      }),
  };
}

const adversariesAt = arg('adversaries-at', '');
if (adversariesAt) {
  // the adversary process: run until stdin closes, then print what each kind got back
  const adv = adversaries(Number(adversariesAt));
  process.stdout.write('adversaries running\n');
  process.stdin.resume();
  process.stdin.once('end', () => void adv.stop().then((got) => process.stdout.write(JSON.stringify(got))));
} else {
  await main();
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'splitc-soak-'));
  fs.copyFileSync(MODEL, path.join(dir, 'cls.onnx'));
  fs.writeFileSync(path.join(dir, 'token.txt'), TOKEN);
  const server = await startServerChild(['--import', 'tsx', path.join(repoRoot, 'src/cli/main.ts'), 'serve', dir, '--port', '0', '--token-file', path.join(dir, 'token.txt')], {
    cwd: repoRoot,
  });
  try {
    const port = Number(new URL(server.url).port);
    await sleep(300);
    const pid = serverPid(server.pid);
    // warm: the session's first runs, then the start figure
    await wellBehaved(port, 'warm-up', 2);
    await sleep(1000);
    const start = memoryOf(pid).rss;
    // one run at the row limit, alone: run(max-rows) of the bound
    const before = memoryOf(pid).peak;
    const atLimit = binaryRequest(MAX_ROWS);
    const r = await request(port, false, atLimit.body, atLimit.headers);
    if (r.status !== 200) throw new Error(`a ${MAX_ROWS}-row request got ${r.status}`);
    const oneRun = Math.max(0, memoryOf(pid).peak - Math.max(before, start));

    const clean = await wellBehaved(port, 'clean', durationS);
    const adv = adversaryProcess(port);
    await adv.ready;
    const mixed = await wellBehaved(port, 'with adversaries', durationS);
    const got = await adv.stop();
    const peak = memoryOf(pid).peak;
    const connections = clients + slowCount + 2 * Math.ceil(bombRate / 2) + Math.ceil(oversizedRate) + Math.ceil(jsonRate) + Math.ceil(malformedRate);
    const bound = start + 2 * MAX_BUFFERED + 2 * MAX_BODY + 2 * oneRun + connections * 64 * 1024 + 64 * MiB;
    await sleep(settleS * 1000);
    const after = memoryOf(pid).rss;

    const row = (x: Run): string =>
      `| ${x.label} | ${x.requests} | ${(x.requests / x.seconds).toFixed(1)} | ${pct(x.latencies, 50).toFixed(2)} | ${pct(x.latencies, 99).toFixed(2)} | ${x.errors} |`;
    const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
    console.log(`\n${clients} keep-alive clients, 1-row binary requests, ${durationS} s per run; ${cpu}, ${os.availableParallelism()} cores\n`);
    console.log('| well-behaved clients | requests | req/s | p50 ms | p99 ms | errors |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    console.log(row(clean));
    console.log(row(mixed));
    console.log('\n| adversary | answers |\n| --- | --- |');
    for (const [kind, statuses] of Object.entries(got)) {
      console.log(`| ${kind} | ${Object.entries(statuses).map(([s, n]) => `${n} × ${s}`).join(', ')} |`);
    }
    const mb = (b: number): string => `${(b / MiB).toFixed(0)} MiB`;
    console.log('\n| server memory | |\n| --- | --- |');
    console.log(`| at start (after warm-up) | ${mb(start)} |`);
    console.log(`| one run at --max-rows ${MAX_ROWS} | ${mb(oneRun)} |`);
    console.log(`| peak (VmHWM) | ${mb(peak)} |`);
    console.log(`| bound (docs/serving.md, ${connections} connections) | ${mb(bound)} |`);
    console.log(`| ${settleS} s after the load | ${mb(after)} (${(after / start).toFixed(2)}× start) |`);
    const p99Ratio = pct(mixed.latencies, 99) / pct(clean.latencies, 99);
    const goals: [string, boolean][] = [
      ['zero errors for the well-behaved clients', clean.errors === 0 && mixed.errors === 0],
      [`their p99 within 2× of the clean run (${p99Ratio.toFixed(2)}×)`, p99Ratio <= 2],
      ['peak RSS within the bound', peak <= bound],
      [`RSS back within 1.2× of start ${settleS} s after (${(after / start).toFixed(2)}×)`, after <= 1.2 * start],
    ];
    console.log('');
    for (const [what, ok] of goals) console.log(`${ok ? 'met' : 'NOT MET'}: ${what}`);
    // a report, not a gate: the exit code is 0 either way (CI runs it with budgets too short to settle)
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
