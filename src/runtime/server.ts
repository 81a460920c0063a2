// The splitc inference server: the KServe v2 / Open Inference Protocol over node:http, with
// one onnxruntime-node session per model, bearer-token auth, body limits (on the wire and
// after decompression), a bounded queue, optional dynamic batching, metrics and graceful close.
// This module assembles the rooms under server/ and owns the HTTP server's life cycle.

import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SplitcError } from '../ir/errors.js';
import { type ErrorBody, type ModelMetadata, type WireErrorCode, HEADER_LENGTH_HEADER, KServeError } from './kserve.js';
import { RateLimitedLog } from './rate-limited-log.js';
import { type AuthError, bearerAuth } from './server/auth.js';
import { BodyReader } from './server/body.js';
import { InferHandler } from './server/infer.js';
import { createServerMetrics } from './server/metrics.js';
import { ModelTable } from './server/models.js';
import { type InferenceServerOptions, resolveServerOptions } from './server/options.js';
import { Responder, toKServeError } from './server/respond.js';
import { type Route, type RouteMatch, type RouteServer, requestPath, Router, ROUTES } from './server/routes.js';

export type { InferenceServerOptions, ModelSpec } from './server/options.js';
export { SERVER_NAME, SERVER_VERSION } from './server/routes.js';

export interface BoundAddress {
  host: string;
  port: number;
  /** Base URL, e.g. http://127.0.0.1:8000 (the protocol lives under /v2). */
  url: string;
}

export interface ServerStats {
  /** Infer requests whose body has arrived (waiting or running). */
  heldRequests: number;
  /** All HTTP requests being handled. */
  activeRequests: number;
  /** HTTP requests received since the server started. */
  totalRequests: number;
  /** Requests waiting in each model's scheduler. */
  waiting: Record<string, number>;
}

export interface InferenceServer {
  listen(port?: number, host?: string): Promise<BoundAddress>;
  /** Graceful: stop accepting, finish in-flight requests, then release the sessions. */
  close(): Promise<void>;
  readonly address: BoundAddress | undefined;
  readonly models: readonly ModelMetadata[];
  stats(): ServerStats;
  metricsText(): string;
}

export async function createInferenceServer(opts: InferenceServerOptions): Promise<InferenceServer> {
  const settings = resolveServerOptions(opts);
  const { maxBodyBytes, requestTimeoutMs, shutdownGraceMs, retryAfter } = settings;
  const checkAuth = bearerAuth(settings.token);
  const metrics = createServerMetrics();
  const models = await ModelTable.load(opts, settings, metrics);
  const served = models.served;

  let active = 0;
  let total = 0;
  // Past the body limit, how much more of a body is read and discarded so that its sender reads the 413.
  const responder = new Responder(opts.corsOrigin, Math.max(4 * maxBodyBytes, 16 * 1024 * 1024), requestTimeoutMs);
  const reader = new BodyReader(maxBodyBytes, settings.maxJsonBytes, settings.maxBufferedBytes, settings.minUploadRate);
  const inference = new InferHandler(reader, responder, settings.maxJsonBytes, settings.maxQueue, settings.maxRows);
  const routeServer: RouteServer = { models, responder, infer: inference, metricsText: () => metrics.registry.render() };
  const federated = opts.federated?.routes({ reader, maxJsonBytes: settings.maxJsonBytes, registry: metrics.registry }) ?? [];
  const router = new Router([...ROUTES, ...federated, ...(opts.routes ?? [])]);
  const warnings = new RateLimitedLog(opts.warn ?? ((line) => process.stderr.write(`${line}\n`)));
  /** Malformed requests are the client's error: one log line per interval at most, whoever sends them. */
  const logMalformed = (remoteAddress: string | undefined, why: string): void =>
    warnings.log('splitc server: malformed request', `splitc server: malformed request from ${remoteAddress ?? 'unknown'}: ${why}`);
  let closed: Promise<void> | undefined;
  const activeWaiters: (() => void)[] = [];
  metrics.queueDepth.track(() => inference.held);

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const started = performance.now();
    let route: Route | undefined;
    let inferModel: string | undefined;
    active++;
    total++;
    res.once('close', () => {
      active--;
      // A connection that closed before the answer was written is counted as "aborted".
      const status = res.writableFinished ? String(res.statusCode) : 'aborted';
      metrics.httpRequests.inc({ endpoint: route?.endpoint ?? 'unknown', status });
      if (inferModel !== undefined) {
        metrics.inferRequests.inc({ model: inferModel, status });
        metrics.inferLatency.observe((performance.now() - started) / 1000, { model: inferModel });
      }
      if (active === 0) for (const w of activeWaiters.splice(0)) w();
    });
    try {
      let pathname: string;
      let matches: RouteMatch[];
      try {
        pathname = requestPath(req.url ?? '/');
        matches = router.match(pathname);
      } catch (e) {
        logMalformed(req.socket.remoteAddress, (e as Error).message);
        throw e;
      }
      // HEAD is answered by GET routes (without the body)
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      const match = matches.find((m) => m.route.method === method) ?? matches[0];
      route = match?.route;
      if (req.method === 'OPTIONS' && opts.corsOrigin && route) {
        responder.send(res, 204, '', {
          'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
          'Access-Control-Allow-Headers': `Authorization, Content-Type, Content-Encoding, ${HEADER_LENGTH_HEADER}`,
          'Access-Control-Max-Age': '600',
        });
        return;
      }
      if (!route?.public) checkAuth(req);
      if (!match || !route) throw new KServeError(404, 'E_NOT_FOUND', `no such endpoint: ${req.method} ${pathname.slice(0, 200)}`);
      if (route.method !== method) {
        const allowed = [...new Set(matches.map((m) => m.route.method))];
        const e = new KServeError(405, 'E_METHOD', `${req.method} is not allowed on ${pathname.slice(0, 200)}; use ${allowed.join(' or ')}`);
        responder.sendError(res, e, { Allow: allowed.flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])).join(', ') });
        return;
      }
      if (responder.closing) throw new KServeError(503, 'E_SHUTTING_DOWN', 'the server is shutting down');
      await route.handle({
        req,
        res,
        params: match.params,
        started,
        server: routeServer,
        countAsInfer: (model) => {
          inferModel = model;
        },
      });
    } catch (e) {
      const ke = toKServeError(e);
      // Internal errors keep their stack, but a request that triggers one must not flood the log.
      if (ke.status === 500) warnings.log('splitc server: internal error', `splitc server: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      const headers: Record<string, string> = {};
      const www = (e as AuthError).wwwAuthenticate;
      if (www) headers['WWW-Authenticate'] = www;
      if (ke.status === 503) headers['Retry-After'] = retryAfter;
      // an answer before the body is read to its end (413, an oversized batch, 503) lets the
      // client read it; a body too slow to wait for (408) gets its connection closed
      if (!req.complete && ke.status !== 408) responder.sendThenDrain(req, res, ke, headers);
      else responder.sendError(res, ke, ke.status === 408 ? { ...headers, Connection: 'close' } : headers);
    }
  };

  const httpServer = http.createServer(
    {
      requestTimeout: requestTimeoutMs,
      headersTimeout: Math.min(requestTimeoutMs, 30_000),
      keepAliveTimeout: 5_000,
      // node checks the timeouts this often (its default, 30 s, let 60 s timeouts fire at 90 s)
      connectionsCheckingInterval: Math.min(1_000, requestTimeoutMs),
    },
    (req, res) => {
    handle(req, res).catch((e: unknown) => {
      // handle() answers every error itself; this is a last line of defence.
      warnings.log('splitc server: internal error', `splitc server: unhandled ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      if (!res.headersSent) res.destroy();
    });
    },
  );
  // Malformed HTTP gets a JSON answer too (Node's default is an empty 400).
  httpServer.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const pending = (socket as unknown as { _httpMessage?: http.ServerResponse })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || (pending && pending.headersSent)) {
      socket.destroy();
      return;
    }
    const [status, text, code]: [number, string, WireErrorCode] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'E_REQUEST_MALFORMED']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', 'E_TIMEOUT']
          : [400, 'Bad Request', 'E_REQUEST_MALFORMED'];
    if (code === 'E_REQUEST_MALFORMED') logMalformed((socket as { remoteAddress?: string }).remoteAddress, `malformed HTTP (${err.code ?? err.message})`);
    const body = JSON.stringify({ error: `malformed HTTP request: ${err.code ?? err.message}`, code } satisfies ErrorBody);
    socket.end(
      `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });

  let bound: BoundAddress | undefined;

  const close = (): Promise<void> => {
    closed ??= (async () => {
      responder.closing = true;
      const stopped = new Promise<void>((resolve) => (bound ? httpServer.close(() => resolve()) : resolve()));
      httpServer.closeIdleConnections();
      responder.finishDrains();
      if (active > 0) {
        // requests still arriving get the grace period, then their connections are cut (a
        // stalled upload must not keep the process alive); inference already queued finishes
        let timer: NodeJS.Timeout | undefined;
        const graceOver = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), shutdownGraceMs)));
        const done = new Promise<'done'>((r) => activeWaiters.push(() => r('done')));
        if ((await Promise.race([done, graceOver])) === 'late') httpServer.closeAllConnections();
        clearTimeout(timer);
      }
      await Promise.all(served.map((m) => m.scheduler.idle()));
      httpServer.closeAllConnections();
      await stopped;
      await Promise.all(served.map((m) => m.host.release()));
    })();
    return closed;
  };

  return {
    listen(port = 0, host = '127.0.0.1'): Promise<BoundAddress> {
      if (responder.closing) return Promise.reject(new SplitcError('E_BAD_ARGUMENT', 'the server is closed'));
      return new Promise((resolve, reject) => {
        const onError = (e: NodeJS.ErrnoException): void => {
          reject(new SplitcError('E_IO', `cannot listen on ${host}:${port}: ${e.code ?? e.message}`, { cause: e }));
        };
        httpServer.once('error', onError);
        httpServer.listen(port, host, () => {
          httpServer.off('error', onError);
          const a = httpServer.address() as AddressInfo;
          const hostPart = a.family === 'IPv6' ? `[${a.address}]` : a.address;
          bound = { host: a.address, port: a.port, url: `http://${hostPart}:${a.port}` };
          resolve(bound);
        });
      });
    },
    close,
    get address() {
      return bound;
    },
    get models() {
      return served.map((m) => models.metadataOf(m));
    },
    stats: () => ({
      heldRequests: inference.held,
      activeRequests: active,
      totalRequests: total,
      waiting: Object.fromEntries(served.map((m) => [`${m.name}@${m.version}`, m.scheduler.waiting])),
    }),
    metricsText: () => metrics.registry.render(),
  };
}
