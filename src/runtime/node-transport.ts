// HTTP for Node built on node:http / node:https with a keep-alive agent. Node's global fetch
// (undici) costs about half a millisecond more per call than node:http on loopback, and
// wrapping node:http's answer in a `Response` (Headers, a web stream read by arrayBuffer())
// another ~0.1 ms for a small answer (bench/http-floor.ts, docs/benchmarks.md) — a large share of a split's
// overhead when the model parts compute in a few milliseconds. So the client exchanges raw
// bytes (`nodeExchange`) in Node unless it is given a fetch of its own; browsers keep their
// fetch; `nodeFetch` wraps an exchange in a `Response` for callers that want one. The Node
// modules are imported at run time by a computed name, so bundlers for the browser neither
// follow nor need them.

type HttpModule = typeof import('node:http');

interface Transport {
  mod: HttpModule;
  agent: import('node:http').Agent;
}

const transports = new Map<string, Promise<Transport>>();

/** True when running under Node (not in a browser or a web worker). */
export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string' && typeof (globalThis as { window?: unknown }).window === 'undefined';
}

function transportFor(protocol: string): Promise<Transport> {
  let t = transports.get(protocol);
  if (!t) {
    const name = protocol === 'https:' ? 'node:https' : 'node:http';
    t = (import(/* @vite-ignore */ /* webpackIgnore: true */ name) as Promise<HttpModule>).then((mod) => ({
      mod,
      agent: new mod.Agent({ keepAlive: true }),
    }));
    transports.set(protocol, t);
  }
  return t;
}

function headersOf(init: RequestInit): Record<string, string> {
  const h = init.headers;
  if (!h) return {};
  if (h instanceof Headers) return Object.fromEntries(h.entries());
  if (Array.isArray(h)) return Object.fromEntries(h);
  return { ...(h as Record<string, string>) };
}

function bodyOf(body: RequestInit['body']): Uint8Array | string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('the Node transport sends strings and byte arrays only');
}

/** A finished HTTP exchange: status, headers and the whole body, without a `Response`. */
export interface Exchange {
  status: number;
  statusText: string;
  /** A header's value (case-insensitive name), or null. */
  header(name: string): string | null;
  body: Uint8Array;
}

export interface ExchangeInit {
  method?: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  signal?: AbortSignal;
  /** Refuse an answer longer than this many bytes (from Content-Length, and while reading it). */
  maxBytes?: number;
}

/** An answer over `ExchangeInit.maxBytes`: `length` is its Content-Length, or the bytes read so far. */
export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
  constructor(
    readonly limit: number,
    readonly length: number,
  ) {
    super(`the answer has at least ${length} bytes, over the limit of ${limit}`);
  }
}

/** An exchange over node:http(s): also every header as Node parsed it. */
export interface NodeExchange extends Exchange {
  headers: import('node:http').IncomingHttpHeaders;
}

/** One request over node:http(s) with keep-alive, answered with the raw bytes. */
export async function nodeExchange(input: string | URL, init: ExchangeInit = {}): Promise<NodeExchange> {
  const url = typeof input === 'string' ? new URL(input) : input;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`unsupported protocol ${url.protocol}`);
  const { mod, agent } = await transportFor(url.protocol);
  const body = init.body;
  const headers = { ...(init.headers ?? {}) };
  if (body !== undefined && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-length')) {
    headers['Content-Length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
  }
  const signal = init.signal;
  const maxBytes = init.maxBytes ?? Infinity;
  signal?.throwIfAborted();
  return new Promise<NodeExchange>((resolve, reject) => {
    const req = mod.request(url, { method: init.method ?? 'GET', headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      let seen = 0;
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        req.destroy(new ResponseTooLargeError(maxBytes, declared));
        return;
      }
      res.on('data', (c: Buffer) => {
        seen += c.length;
        if (seen > maxBytes) req.destroy(new ResponseTooLargeError(maxBytes, seen));
        else chunks.push(c);
      });
      // An error once the answer began (a reset or a timeout mid-body): marked so that the
      // client does not take it for a request the server never received.
      res.on('error', (e) => reject(Object.assign(e, { answerStarted: true })));
      res.on('end', () => {
        signal?.removeEventListener('abort', onAbort);
        const h = res.headers;
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          headers: h,
          header(name) {
            const v = h[name.toLowerCase()];
            return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
          },
          body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
        });
      });
    });
    const onAbort = (): void => {
      req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (e) => {
      signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
    req.end(body);
  });
}

/** `fetch` over node:http(s) with keep-alive; answers are standard `Response` objects. */
export async function nodeFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  if (typeof input !== 'string' && !(input instanceof URL)) throw new TypeError('the Node transport takes a URL, not a Request');
  const body = bodyOf(init.body);
  const x = await nodeExchange(input, { method: init.method ?? 'GET', headers: headersOf(init), ...(body !== undefined ? { body } : {}), ...(init.signal ? { signal: init.signal } : {}) });
  // Statuses that cannot carry a body in a Response (204, 304) get none.
  const nullBody = x.status === 204 || x.status === 205 || x.status === 304 || x.body.length === 0;
  const out = new Headers();
  for (const [k, v] of Object.entries(x.headers)) {
    if (Array.isArray(v)) for (const one of v) out.append(k, one);
    else if (v !== undefined) out.set(k, v);
  }
  return new Response(nullBody ? null : (x.body as Uint8Array<ArrayBuffer>), { status: x.status, statusText: x.statusText, headers: out });
}
