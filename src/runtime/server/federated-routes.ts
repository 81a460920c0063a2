// The federated coordinator's endpoints, rows of the server's route table (mounted with the
// `federated` option): register, the task, the round's weights, updates, the calibration
// phase and calibration statistics, and status, in the KServe v2 binary layout (federated/wire.ts; docs/federated.md).

import { SplitcError } from '../../ir/errors.js';
import type { Coordinator } from '../federated/coordinator.js';
import { calibrationFromRequest, checkDeclaredCalibration, checkDeclaredWeights, encodeCalibrationInfo, encodeRound, encodeTask, fromBase64, updateFromRequest } from '../federated/wire.js';
import { type DecodedRequest, decodeInferRequest, type EncodedBody, HEADER_LENGTH_HEADER, type InputHeader, KServeError, parseHeaderLength } from '../kserve.js';
import { Counter, type Registry } from '../metrics.js';
import type { BodyReader, CheckInputs } from './body.js';
import type { RouteContext, Route } from './routes.js';

/** What the rows use of the server beyond RouteServer. */
export interface FederatedRouteDeps {
  reader: BodyReader;
  maxJsonBytes: number;
  registry: Registry;
}

/** Largest register body: `{"client": "<≤ 64 characters>", "publicKey": "<88 base64 characters>"}` and some room. */
const MAX_REGISTER_BYTES = 4096;

/**
 * The HTTP status of a coordinator's error: E_FED_UPDATE is a well-formed request whose
 * content the coordinator refuses (422), E_FED_ROUND a conflict with the round's state (409);
 * other SplitcErrors are the client's (400), protocol errors keep theirs.
 */
export function federatedHttpError(e: unknown): unknown {
  if (e instanceof KServeError || !(e instanceof SplitcError)) return e;
  const status = e.code === 'E_FED_UPDATE' ? 422 : e.code === 'E_FED_ROUND' ? 409 : 400;
  return new KServeError(status, e.code, e.message);
}

export function federatedRoutes(coordinator: Coordinator, deps: FederatedRouteDeps): Route[] {
  const updates = deps.registry.add(new Counter('splitc_federated_updates_total', 'Federated client updates by result (accepted, rejected).'));
  const calibrations = deps.registry.add(new Counter('splitc_federated_calibrations_total', 'Federated calibration statistics by result (accepted, rejected).'));
  const registrations = deps.registry.add(new Counter('splitc_federated_registrations_total', 'Federated client registrations by result (accepted, rejected).'));
  let task: EncodedBody | undefined;

  const counted = (counter: Counter, handle: (ctx: RouteContext) => Promise<void>) => async (ctx: RouteContext): Promise<void> => {
    try {
      await handle(ctx);
      counter.inc({ result: 'accepted' });
    } catch (e) {
      counter.inc({ result: 'rejected' });
      throw federatedHttpError(e);
    }
  };
  const sendBody = (ctx: RouteContext, body: EncodedBody): void =>
    ctx.server.responder.send(ctx.res, 200, body.chunks, {
      'Content-Type': body.contentType,
      ...(body.jsonLength !== undefined ? { [HEADER_LENGTH_HEADER]: body.jsonLength } : {}),
    });

  /** Reads and decodes a KServe request body under the server's limits; `declared` bounds it by its JSON header. */
  const readRequest = async (ctx: RouteContext, declared: (inputs: readonly InputHeader[]) => number): Promise<DecodedRequest> => {
    const checkInputs: CheckInputs = (inputs) => {
      try {
        return declared(inputs);
      } catch (e) {
        throw federatedHttpError(e);
      }
    };
    const held = { bytes: 0 };
    try {
      const wire = await deps.reader.read(ctx.req, checkInputs, held);
      const body = await deps.reader.decompress(ctx.req, wire, checkInputs, held);
      const raw = ctx.req.headers[HEADER_LENGTH_HEADER.toLowerCase()];
      const headerLength = parseHeaderLength(Array.isArray(raw) ? raw.join(',') : raw, body.length);
      if ((headerLength ?? body.length) > deps.maxJsonBytes) throw new KServeError(413, 'E_BODY_TOO_LARGE', `the request's JSON is ${headerLength ?? body.length} bytes; this server accepts at most ${deps.maxJsonBytes}`);
      return decodeInferRequest(body, headerLength, { checkInputs });
    } finally {
      deps.reader.bodies.give(held.bytes);
    }
  };

  return [
    {
      endpoint: 'federatedRegister',
      method: 'POST',
      pattern: '/v2/federated/register',
      handle: counted(registrations, async (ctx) => {
        const held = { bytes: 0 };
        let text: string;
        try {
          const notBinary = (): never => {
            throw new KServeError(400, 'E_REQUEST_MALFORMED', 'a registration is JSON, not a binary body');
          };
          const body = await deps.reader.decompress(ctx.req, await deps.reader.read(ctx.req, notBinary, held), notBinary, held);
          if (body.length > MAX_REGISTER_BYTES) throw new KServeError(413, 'E_BODY_TOO_LARGE', `a registration is at most ${MAX_REGISTER_BYTES} bytes, got ${body.length}`);
          text = new TextDecoder('utf-8', { fatal: true }).decode(body);
        } catch (e) {
          if (e instanceof TypeError) throw new KServeError(400, 'E_REQUEST_MALFORMED', 'the registration is not UTF-8');
          throw e;
        } finally {
          deps.reader.bodies.give(held.bytes);
        }
        let req: unknown = {};
        try {
          if (text.trim() !== '') req = JSON.parse(text);
        } catch {
          throw new KServeError(400, 'E_REQUEST_MALFORMED', 'the registration is not JSON');
        }
        if (typeof req !== 'object' || req === null || Array.isArray(req)) throw new KServeError(400, 'E_REQUEST_MALFORMED', 'a registration is a JSON object: {"client"?: "<id>", "publicKey"?: "<base64>"}');
        const { client, publicKey } = req as { client?: unknown; publicKey?: unknown };
        if (client !== undefined && typeof client !== 'string') throw new KServeError(400, 'E_REQUEST_MALFORMED', '"client" must be a string');
        if (publicKey !== undefined && typeof publicKey !== 'string') throw new KServeError(400, 'E_REQUEST_MALFORMED', '"publicKey" must be a base64 string');
        ctx.server.responder.sendJson(ctx.res, 200, coordinator.register(client, publicKey !== undefined ? fromBase64(publicKey) : undefined));
      }),
    },
    {
      endpoint: 'federatedTask',
      method: 'GET',
      pattern: '/v2/federated/task',
      handle: (ctx) => sendBody(ctx, (task ??= encodeTask(coordinator.task))),
    },
    {
      endpoint: 'federatedRound',
      method: 'GET',
      pattern: '/v2/federated/round',
      handle: (ctx) => {
        // a round closed on the way is checkpointed before its weights are served
        sendBody(ctx, encodeRound(coordinator.task, coordinator.roundInfo(), coordinator.globalWeights()));
      },
    },
    {
      endpoint: 'federatedUpdate',
      method: 'POST',
      pattern: '/v2/federated/update',
      handle: counted(updates, async (ctx) => {
        const decoded = await readRequest(ctx, (inputs) => checkDeclaredWeights(coordinator.task, inputs));
        const result = await coordinator.submit(updateFromRequest(coordinator.task, decoded));
        ctx.server.responder.sendJson(ctx.res, 200, { accepted: true, ...result });
      }),
    },
    {
      endpoint: 'federatedCalibrationInfo',
      method: 'GET',
      pattern: '/v2/federated/calibration',
      handle: (ctx) => {
        try {
          const { info, model } = coordinator.calibrationInfo();
          sendBody(ctx, encodeCalibrationInfo(info, model));
        } catch (e) {
          throw federatedHttpError(e);
        }
      },
    },
    {
      endpoint: 'federatedCalibration',
      method: 'POST',
      pattern: '/v2/federated/calibration',
      handle: counted(calibrations, async (ctx) => {
        const decoded = await readRequest(ctx, checkDeclaredCalibration);
        const { client, round, stats } = calibrationFromRequest(decoded);
        coordinator.submitCalibration(client, round, stats);
        ctx.server.responder.sendJson(ctx.res, 200, { accepted: true, client, round, values: stats.length });
      }),
    },
    {
      endpoint: 'federatedStatus',
      method: 'GET',
      pattern: '/v2/federated/status',
      handle: (ctx) => ctx.server.responder.sendJson(ctx.res, 200, coordinator.status()),
    },
  ];
}
