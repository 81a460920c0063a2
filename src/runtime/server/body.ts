// Reading an infer request's body: limits on the wire and after decompression, a shared
// budget of buffered bytes, an upload-rate floor, and streaming gzip/deflate that stops at
// what the request's JSON header declares, so that oversized requests are refused early.

import type * as http from 'node:http';
import * as zlib from 'node:zlib';
import { ByteBudget } from '../byte-budget.js';
import { type InputHeader, decodeRequestInputs, HEADER_LENGTH_HEADER, KServeError } from '../kserve.js';
import { toKServeError } from './respond.js';

/**
 * What a request may cost, from the inputs its JSON header declares: throws (400) when they
 * are over the model's limits, else returns the most binary data they can carry (undefined
 * when that has no bound).
 */
export type CheckInputs = (inputs: readonly InputHeader[]) => number | undefined;

/**
 * Whether a request says it is binary (carries Inference-Header-Content-Length) and the JSON
 * header's length when that value is well-formed (a malformed one is reported by the full
 * decode, with the body).
 */
function declaredHeaderLength(req: http.IncomingMessage): { present: boolean; length: number | undefined } {
  const raw = req.headers[HEADER_LENGTH_HEADER.toLowerCase()];
  return { present: raw !== undefined, length: typeof raw === 'string' && /^\d{1,15}$/.test(raw.trim()) ? Number(raw) : undefined };
}

export class BodyReader {
  /** Request bodies held in memory across requests, on the wire and decompressed. */
  readonly bodies: ByteBudget;
  /** Decompression output in flight across requests: two maximal bodies at a time, the rest wait. */
  private readonly inflating: ByteBudget;

  constructor(
    private readonly maxBodyBytes: number,
    private readonly maxJsonBytes: number,
    maxBufferedBytes: number,
    /** Bytes per second a body must average after its first 5 s (0: no floor). */
    private readonly minUploadRate: number,
  ) {
    this.bodies = new ByteBudget(maxBufferedBytes);
    this.inflating = new ByteBudget(2 * maxBodyBytes);
  }

  /**
   * Reads the body, holding its bytes against the shared body budget (`held.bytes`, given
   * back by the caller). Past a limit it answers and discards the rest. A binary request is
   * checked by checkInputs as soon as its JSON header has arrived, so an oversized batch
   * is refused before its tensors are uploaded. A body slower than minUploadRate (after 5 s)
   * gets 408.
   */
  read(req: http.IncomingMessage, checkInputs: CheckInputs, held: { bytes: number }): Promise<Buffer> {
    const { maxBodyBytes, maxJsonBytes, minUploadRate, bodies } = this;
    return new Promise((resolve, reject) => {
      const identity = ['identity', ''].includes((req.headers['content-encoding'] ?? 'identity').trim().toLowerCase());
      const { present: binary, length: headerLength } = declaredHeaderLength(req);
      // a body that is all JSON is bounded by maxJsonBytes (already on the wire when not compressed)
      const jsonOnly = identity && !binary;
      const limit = jsonOnly ? maxJsonBytes : maxBodyBytes;
      const tooLarge = (n: string): KServeError =>
        new KServeError(
          413,
          'E_BODY_TOO_LARGE',
          `the request body is ${n} bytes; this server accepts at most ${limit}` +
            (jsonOnly ? ' in JSON (send tensors in the binary extension: Inference-Header-Content-Length)' : ''),
        );
      const declared = req.headers['content-length'];
      if (declared !== undefined && Number(declared) > limit) {
        reject(tooLarge(declared));
        return;
      }
      // With a declared length the body is copied into one buffer as it arrives, so the
      // socket's 64 KiB chunks die young instead of living (and fragmenting the heap) until
      // the body is complete; a chunked body keeps its chunks.
      const declaredLength = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined;
      const whole = declaredLength !== undefined ? Buffer.allocUnsafe(declaredLength) : undefined;
      const chunks: Buffer[] = [];
      let size = 0;
      let failed = false;
      let headerChecked = headerLength === undefined || !identity;
      const started = performance.now();
      const fail = (e: KServeError): void => {
        failed = true;
        chunks.length = 0;
        clearInterval(rateTimer);
        reject(e);
      };
      const rateTimer = minUploadRate
        ? setInterval(() => {
            const seconds = (performance.now() - started) / 1000;
            if (!failed && seconds >= 5 && size < minUploadRate * seconds) {
              fail(
                new KServeError(408, 'E_TIMEOUT', `the body arrived at ${Math.round(size / seconds)} bytes/s; this server needs at least ${minUploadRate} bytes/s after the first 5 s`),
              );
            }
          }, 1000).unref()
        : undefined;
      req.on('data', (c: Buffer) => {
        if (failed) return; // the error answer drains the rest (sendThenDrain)
        size += c.length;
        if (size > limit) return fail(tooLarge(`more than ${limit}`));
        if (!bodies.tryTake(c.length)) {
          return fail(new KServeError(503, 'E_OVERLOADED', `the server holds ${bodies.inUse} bytes of request bodies, its limit is ${bodies.capacity}; retry later`));
        }
        held.bytes += c.length;
        // node's parser delivers exactly the declared length
        if (whole) c.copy(whole, size - c.length);
        else chunks.push(c);
        if (!headerChecked && size >= headerLength!) {
          headerChecked = true;
          let declared: InputHeader[] | undefined;
          try {
            declared = decodeRequestInputs((whole ?? Buffer.concat(chunks, size)).subarray(0, headerLength));
          } catch {
            // malformed headers are reported by the full decode, with the rest of the body
          }
          try {
            if (declared) checkInputs(declared);
          } catch (e) {
            return fail(e as KServeError);
          }
        }
      });
      req.on('end', () => {
        clearInterval(rateTimer);
        if (failed) return;
        resolve(whole ?? Buffer.concat(chunks, size));
      });
      req.on('error', (e) => fail(new KServeError(400, 'E_REQUEST_MALFORMED', `the request body could not be read: ${e.message}`)));
      req.on('close', () => {
        clearInterval(rateTimer);
        if (!req.complete && !failed) fail(new KServeError(400, 'E_REQUEST_MALFORMED', 'the client closed the connection before the body was complete'));
      });
    });
  }

  /**
   * Decompresses a gzip/deflate body as a stream. The output stops at the body limit (a
   * bomb stops there), and for a binary request, once its JSON header has decompressed, at
   * what the header's declared inputs can carry: a bomb with a malformed header costs one
   * chunk, an oversized batch is refused by checkInputs. At most two limits' worth of output
   * is in flight across requests (the rest wait their turn).
   */
  async decompress(req: http.IncomingMessage, wire: Buffer, checkInputs: CheckInputs, held: { bytes: number }): Promise<Buffer> {
    const { maxBodyBytes, maxJsonBytes, bodies, inflating } = this;
    const enc = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (enc === 'identity' || enc === '') return wire;
    const gzip = enc === 'gzip' || enc === 'x-gzip';
    if (!gzip && enc !== 'deflate') throw new KServeError(415, 'E_REQUEST_ENCODING', `unsupported Content-Encoding "${enc.slice(0, 40)}"; use gzip, deflate or identity`);
    const { present: binary, length: headerLength } = declaredHeaderLength(req);
    const limit = binary ? maxBodyBytes : maxJsonBytes;
    await inflating.take(limit);
    let out: Buffer;
    try {
      out = await new Promise<Buffer>((resolve, reject) => {
        // 1 MiB output chunks: a 64 MiB output costs 64 round trips to zlib's thread, not 4,096
        const z = gzip ? zlib.createGunzip({ chunkSize: 1024 * 1024 }) : zlib.createInflate({ chunkSize: 1024 * 1024 });
        const chunks: Buffer[] = [];
        let size = 0;
        let cap = limit;
        let headerChecked = headerLength === undefined;
        const fail = (e: KServeError): void => {
          z.destroy();
          reject(e);
        };
        z.on('data', (c: Buffer) => {
          size += c.length;
            if (size > cap) {
            return fail(
              cap === limit
                ? new KServeError(413, 'E_BODY_TOO_LARGE', `the request body decompresses to more than ${limit} bytes`)
                : new KServeError(400, 'E_REQUEST_DATA', `the request body decompresses to more than its header and declared inputs (${cap} bytes)`),
            );
          }
          chunks.push(c);
          if (!headerChecked && size >= headerLength!) {
            headerChecked = true;
            try {
              const carried = checkInputs(decodeRequestInputs(Buffer.concat(chunks, size).subarray(0, headerLength)));
              if (carried !== undefined) cap = Math.min(cap, headerLength! + carried);
            } catch (e) {
              return fail(toKServeError(e));
            }
          }
        });
        z.on('end', () => resolve(Buffer.concat(chunks, size)));
        z.on('error', (e) => reject(new KServeError(400, 'E_REQUEST_ENCODING', `the ${enc} body could not be decompressed: ${e.message}`)));
        z.end(wire);
      });
    } finally {
      inflating.give(limit);
    }
    if (!bodies.tryTake(out.length)) {
      throw new KServeError(503, 'E_OVERLOADED', `the server holds ${bodies.inUse} bytes of request bodies, its limit is ${bodies.capacity}; retry later`);
    }
    held.bytes += out.length;
    return out;
  }
}
