// How the inference server answers: JSON and binary bodies with CORS and Connection
// headers, error bodies with splitc's codes, and 413s that drain the rest of the upload.

import type * as http from 'node:http';
import { SplitcError } from '../../ir/errors.js';
import { type ErrorBody, HEADER_LENGTH_HEADER, KServeError } from '../kserve.js';

export function errorBody(e: KServeError): string {
  const body: ErrorBody = { error: e.message, code: e.code };
  return JSON.stringify(body);
}

/** The protocol error to answer for anything a handler throws (a SplitcError is the client's fault: 400). */
export function toKServeError(e: unknown): KServeError {
  if (e instanceof KServeError) return e;
  if (e instanceof SplitcError) return new KServeError(400, e.code, e.message);
  const msg = e instanceof Error ? e.message : String(e);
  return new KServeError(500, 'E_INFERENCE', `internal server error: ${msg.slice(0, 300)}`);
}

export class Responder {
  /** Set when the server closes: every answer then asks the client to close its connection. */
  closing = false;
  /** Ends each 413 answer that is still draining its request's body. */
  private readonly drains = new Set<() => void>();

  constructor(
    private readonly corsOrigin: string | undefined,
    /** Past the body limit, how much more of a body is read and discarded so that its sender reads the 413. */
    private readonly maxDrainBytes: number,
    private readonly requestTimeoutMs: number,
  ) {}

  private corsHeaders(): Record<string, string> {
    return this.corsOrigin
      ? {
          'Access-Control-Allow-Origin': this.corsOrigin,
          'Access-Control-Expose-Headers': `${HEADER_LENGTH_HEADER}, Server-Timing`,
          ...(this.corsOrigin !== '*' ? { Vary: 'Origin' } : {}),
        }
      : {};
  }

  send(res: http.ServerResponse, status: number, body: string | Uint8Array[], headers: Record<string, string | number>): void {
    if (res.headersSent || res.destroyed) return;
    const chunks = typeof body === 'string' ? [Buffer.from(body, 'utf8')] : body;
    let length = 0;
    for (const c of chunks) length += c.length;
    res.writeHead(status, { ...this.corsHeaders(), ...(this.closing ? { Connection: 'close' } : {}), ...headers, 'Content-Length': length });
    if (res.req.method === 'HEAD') {
      res.end();
      return;
    }
    for (let i = 0; i < chunks.length - 1; i++) res.write(chunks[i]!);
    res.end(chunks[chunks.length - 1]);
  }

  sendJson(res: http.ServerResponse, status: number, obj: unknown, headers: Record<string, string> = {}): void {
    this.send(res, status, JSON.stringify(obj), { 'Content-Type': 'application/json', ...headers });
  }

  sendError(res: http.ServerResponse, e: KServeError, headers: Record<string, string> = {}): void {
    this.send(res, e.status, errorBody(e), { 'Content-Type': 'application/json', ...headers });
  }

  /**
   * Answers a request whose body has not been read to its end (a 413) at once, with
   * `Connection: close`, but closes only once the rest of the body has been read and
   * discarded — at most maxDrainBytes, within the request timeout. Closing a socket that
   * still receives data makes the kernel send a reset, which destroys the answer in the
   * client's receive buffer before a client that writes its whole body first has read it.
   */
  sendThenDrain(req: http.IncomingMessage, res: http.ServerResponse, e: KServeError, headers: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return;
    const body = Buffer.from(errorBody(e), 'utf8');
    res.writeHead(e.status, { ...this.corsHeaders(), ...headers, Connection: 'close', 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.write(body);
    let drainedBytes = 0;
    const finish = (): void => {
      clearTimeout(timer);
      this.drains.delete(finish);
      req.off('data', onData);
      if (!res.writableEnded) res.end(); // node closes the connection once the answer is out
    };
    const onData = (c: Buffer): void => {
      drainedBytes += c.length;
      if (drainedBytes > this.maxDrainBytes) finish();
    };
    const timer = setTimeout(finish, this.requestTimeoutMs).unref();
    this.drains.add(finish);
    req.on('data', onData);
    req.once('end', finish);
    req.once('close', finish);
    req.resume();
  }

  /** Ends every answer still draining its request (on close). */
  finishDrains(): void {
    for (const finish of [...this.drains]) finish();
  }
}
