// The route table's patterns: what each path matches, with which decoded parameters.
import { describe, expect, it } from 'vitest';
import { KServeError } from '../../../src/runtime/kserve.js';
import { type Route, Router, ROUTES } from '../../../src/runtime/server/routes.js';
import { auth, jsonOf, rawRequest, startServer } from '../helpers.js';

const router = new Router(ROUTES);
const names = (path: string): string[] => router.match(path).map((m) => m.route.endpoint);

describe('the v2 route table', () => {
  it('matches each endpoint, a trailing slash ignored', () => {
    expect(names('/v2/health/live')).toEqual(['live']);
    expect(names('/v2/health/ready/')).toEqual(['ready']);
    expect(names('/v2')).toEqual(['server']);
    expect(names('/metrics')).toEqual(['metrics']);
    expect(names('/v2/models/m')).toEqual(['model']);
    expect(names('/v2/models/m/ready')).toEqual(['modelReady']);
    expect(names('/v2/models/m/versions/2/infer')).toEqual(['infer']);
    expect(names('/v2/models')).toEqual([]);
    expect(names('/v2/models/m/other')).toEqual([]);
  });

  it('decodes the parameters, an absent optional part leaving its own undefined', () => {
    expect(router.match('/v2/models/a%20b/versions/v%2F1/infer')[0]!.params).toEqual({ model: 'a b', version: 'v/1' });
    expect(router.match('/v2/models/m/infer')[0]!.params).toEqual({ model: 'm', version: undefined });
    // "ready" after /versions/ is a version label, as in the protocol's grammar
    const m = router.match('/v2/models/m/versions/ready');
    expect(m.map((x) => [x.route.endpoint, x.params.version])).toEqual([['model', 'ready']]);
  });

  it('refuses a malformed percent-escape (400, E_REQUEST_MALFORMED)', () => {
    try {
      router.match('/v2/models/%E0%A4%A/infer');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(KServeError);
      expect([(e as KServeError).status, (e as KServeError).code]).toEqual([400, 'E_REQUEST_MALFORMED']);
    }
  });

  it('gives every row of one path, whatever its method (the server answers 405 from them)', () => {
    const handle = (): void => undefined;
    const table: Route[] = [
      { endpoint: 'getUpdate', method: 'GET', pattern: '/fl/rounds/{round}', handle },
      { endpoint: 'postUpdate', method: 'POST', pattern: '/fl/rounds/{round}', handle },
    ];
    expect(new Router(table).match('/fl/rounds/3').map((m) => [m.route.method, m.params.round])).toEqual([
      ['GET', '3'],
      ['POST', '3'],
    ]);
  });
});

describe('extra routes (InferenceServerOptions.routes)', () => {
  it('are served next to the protocol with the same auth, 405 answers and metrics', async () => {
    const round: Route = {
      endpoint: 'flRound',
      method: 'GET',
      pattern: '/fl/rounds/{round}',
      handle: ({ res, server, params }) => server.responder.sendJson(res, 200, { round: Number(params.round) }),
    };
    const { server, port } = await startServer({ routes: [round] });
    try {
      const ok = await rawRequest(port, 'GET', '/fl/rounds/7', { headers: auth() });
      expect([ok.status, jsonOf(ok)]).toEqual([200, { round: 7 }]);
      const noToken = await rawRequest(port, 'GET', '/fl/rounds/7');
      expect([noToken.status, jsonOf(noToken).code]).toEqual([401, 'E_UNAUTHORIZED']);
      const post = await rawRequest(port, 'POST', '/fl/rounds/7', { headers: auth() });
      expect([post.status, jsonOf(post).code, post.headers.allow]).toEqual([405, 'E_METHOD', 'GET, HEAD']);
      expect(server.metricsText()).toMatch(/splitc_http_requests_total\{endpoint="flRound",status="200"\} 1/);
      expect((await rawRequest(port, 'GET', '/v2/health/live')).status).toBe(200); // the protocol's rows still answer
    } finally {
      await server.close();
    }
  });
});
