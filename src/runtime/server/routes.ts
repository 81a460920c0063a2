// The server's endpoints as a table: a method, a path pattern and a handler per row, so that
// a new endpoint (a federated coordinator's, say) is one more row. Matching a path to rows
// and the order of checks around them (auth, 404, 405) live in the server (server.ts).

import type * as http from 'node:http';
import { KServeError, type ServerMetadata } from '../kserve.js';
import type { InferHandler } from './infer.js';
import type { ModelTable } from './models.js';
import type { Responder } from './respond.js';

export const SERVER_NAME = 'splitc';
export const SERVER_VERSION = '0.1.0';

/** What handlers may use of the server. */
export interface RouteServer {
  readonly models: ModelTable;
  readonly responder: Responder;
  readonly infer: InferHandler;
  metricsText(): string;
}

export interface RouteContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  /** The pattern's `{name}` segments, percent-decoded; undefined when in an optional part that is absent. */
  params: Record<string, string | undefined>;
  /** performance.now() when the request arrived. */
  started: number;
  server: RouteServer;
  /** Counts the request as an inference of `model` (splitc_infer_requests_total, latency). */
  countAsInfer(model: string): void;
}

export interface Route {
  /** The `endpoint` label of splitc_http_requests_total. */
  endpoint: string;
  /** GET routes answer HEAD too. */
  method: 'GET' | 'POST';
  /** Literal segments, `{name}` for one segment, `[...]` around an optional part. */
  pattern: string;
  /** Answered without a bearer token (health probes). */
  public?: boolean;
  handle(ctx: RouteContext): void | Promise<void>;
}

const MODEL = '/v2/models/{model}[/versions/{version}]';

export const ROUTES: readonly Route[] = [
  { endpoint: 'live', method: 'GET', pattern: '/v2/health/live', public: true, handle: ({ res, server }) => server.responder.sendJson(res, 200, { live: true }) },
  { endpoint: 'ready', method: 'GET', pattern: '/v2/health/ready', public: true, handle: ({ res, server }) => server.responder.sendJson(res, 200, { ready: true }) },
  {
    endpoint: 'server',
    method: 'GET',
    pattern: '/v2',
    handle: ({ res, server }) => {
      const meta: ServerMetadata = { name: SERVER_NAME, version: SERVER_VERSION, extensions: ['binary_tensor_data'] };
      server.responder.sendJson(res, 200, meta);
    },
  },
  {
    endpoint: 'metrics',
    method: 'GET',
    pattern: '/metrics',
    handle: ({ res, server }) => server.responder.send(res, 200, server.metricsText(), { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }),
  },
  {
    endpoint: 'model',
    method: 'GET',
    pattern: MODEL,
    handle: ({ res, server, params }) => server.responder.sendJson(res, 200, server.models.metadataOf(server.models.find(params.model!, params.version))),
  },
  {
    endpoint: 'modelReady',
    method: 'GET',
    pattern: `${MODEL}/ready`,
    handle: ({ res, server, params }) => {
      const m = server.models.find(params.model!, params.version);
      server.responder.sendJson(res, 200, { name: m.name, version: m.version, ready: true });
    },
  },
  {
    endpoint: 'infer',
    method: 'POST',
    pattern: `${MODEL}/infer`,
    handle: async ({ req, res, server, params, started, countAsInfer }) => {
      const m = server.models.find(params.model!, params.version);
      countAsInfer(m.name);
      await server.infer.handle(req, res, m, started);
    },
  },
];

export interface RouteMatch {
  route: Route;
  params: Record<string, string | undefined>;
}

interface CompiledRoute {
  route: Route;
  regex: RegExp;
  names: string[];
}

function compile(route: Route): CompiledRoute {
  const names: string[] = [];
  let source = '';
  for (const token of route.pattern.match(/\{\w+\}|\[|\]|[^{}[\]]+/g) ?? []) {
    if (token === '[') source += '(?:';
    else if (token === ']') source += ')?';
    else if (token.startsWith('{')) {
      names.push(token.slice(1, -1));
      source += '([^/]+)';
    } else source += token.replace(/[.*+?^${}()|\\/]/g, '\\$&');
  }
  return { route, regex: new RegExp(`^${source}$`), names };
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new KServeError(400, 'E_REQUEST_MALFORMED', 'the URL has a malformed percent-escape');
  }
}

/** The path of a request target; one that is not a URL (`//[`) is the client's error, not the server's. */
export function requestPath(target: string): string {
  try {
    return new URL(target, 'http://localhost').pathname;
  } catch {
    throw new KServeError(400, 'E_REQUEST_MALFORMED', `the request target ${JSON.stringify(target.slice(0, 100))} is not a valid URL`);
  }
}

/** Matches paths (a trailing slash ignored) to the rows of a route table. */
export class Router {
  private readonly compiled: CompiledRoute[];

  constructor(routes: readonly Route[]) {
    this.compiled = routes.map(compile);
  }

  /** The rows whose pattern matches the path, whatever their method (400 on a malformed percent-escape). */
  match(pathname: string): RouteMatch[] {
    const p = pathname.length > 1 && pathname.endsWith('/') ? pathname.slice(0, -1) : pathname;
    const out: RouteMatch[] = [];
    for (const { route, regex, names } of this.compiled) {
      const m = regex.exec(p);
      if (!m) continue;
      const params: Record<string, string | undefined> = {};
      names.forEach((name, i) => {
        params[name] = m[i + 1] === undefined ? undefined : decodeSegment(m[i + 1]!);
      });
      out.push({ route, params });
    }
    return out;
  }
}
