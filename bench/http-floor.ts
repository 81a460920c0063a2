// The floor under bench/split.ts: what one HTTP/1.1 POST costs between two Node processes on
// loopback with nothing of splitc in it. A bare node:http server (child process) reads the
// body and answers 8 bytes; the parent sends the same body over a keep-alive connection, one
// request at a time, and times each round trip. Also the same POST through splitc's Node
// transport (`nodeExchange`, what the KServe client uses in Node) and through `nodeFetch`
// (the same wrapped in a `Response`, as the client did before), and a worker-thread message
// round trip (the server's hand-off to its session thread) with the same bytes.
//
// --gap-ms N sleeps N ms between requests, as a split client does while its edge part
// computes (idle processes wake up more slowly than busy ones).
//
// --server-busy-poll keeps the server's event loop polling (setImmediate) instead of sleeping,
// to see how much of the floor is waking an idle process.
//
//   npx tsx bench/http-floor.ts [--runs 2000] [--sizes 65536,139200,556800] [--gap-ms 0] [--server-busy-poll]
//
// Prints a markdown table (median and mean ms per request).

import { spawn } from 'node:child_process';
import * as http from 'node:http';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { nodeExchange, nodeFetch } from '../src/runtime/node-transport.js';
import { arg } from './lib.js';

if (process.argv[2] === '--serve') {
  if (process.argv.includes('--busy')) {
    // Keep the event loop polling instead of sleeping in epoll (costs a core).
    const spin = (): void => void setImmediate(spin);
    spin();
  }
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      Buffer.concat(chunks);
      res.writeHead(200, { 'Content-Length': 8 });
      res.end(Buffer.alloc(8));
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as { port: number }).port}\n`));
} else {
  const runs = Number(arg('runs', '2000'));
  const sizes = arg('sizes', '65536,139200,556800').split(',').map(Number);
  const gapMs = Number(arg('gap-ms', '0'));
  const gap = (): Promise<void> => (gapMs > 0 ? new Promise((r) => setTimeout(r, gapMs)) : Promise.resolve());
  const stats = (xs: number[]): string => {
    const s = [...xs].sort((a, b) => a - b);
    return `${s[s.length >> 1]!.toFixed(3)} | ${(s.reduce((a, b) => a + b, 0) / s.length).toFixed(3)}`;
  };

  const busy = process.argv.includes('--server-busy-poll');
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--serve', ...(busy ? ['--busy'] : [])], { stdio: ['ignore', 'pipe', 'ignore'] });
  process.on('exit', () => child.kill());
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const url = `http://127.0.0.1:${port}/`;
  const post = (body: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent, headers: { 'Content-Length': body.length } }, (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end(body);
    });

  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.on('message', (m) => { const c = m.slice(0, 8); parentPort.postMessage(c, [c.buffer]); });`,
    { eval: true },
  );
  const roundTrip = (bytes: Uint8Array): Promise<void> =>
    new Promise((resolve) => {
      worker.once('message', () => resolve());
      const copy = new Uint8Array(bytes); // a copy with its own buffer (Buffer#slice is a view)
      worker.postMessage(copy, [copy.buffer]);
    });

  console.log(`Node ${process.version}; ${runs} requests per row after ${runs / 10} warm-up requests, one at a time, ${gapMs} ms apart.\n`);
  console.log('| what | body bytes | median ms | mean ms |');
  console.log('|---|---:|---:|---:|');
  for (const size of sizes) {
    const body = Buffer.alloc(size, 7);
    for (const [what, once] of [
      ['node:http POST, answer 8 B (two processes, keep-alive)', () => post(body)],
      ['the same through nodeExchange (the client in Node)', () => nodeExchange(url, { method: 'POST', body }).then(() => undefined)],
      ['the same through nodeFetch (a Response, read by arrayBuffer())', () => nodeFetch(url, { method: 'POST', body }).then((r) => r.arrayBuffer()).then(() => undefined)],
      ['worker_threads message round trip (copy + transfer)', () => roundTrip(body)],
    ] as const) {
      for (let i = 0; i < runs / 10; i++) await once();
      const t: number[] = [];
      for (let i = 0; i < runs; i++) {
        await gap();
        const s = performance.now();
        await once();
        t.push(performance.now() - s);
      }
      console.log(`| ${what} | ${size} | ${stats(t)} |`);
    }
  }
  agent.destroy();
  await worker.terminate();
  child.kill();
}
