// Bearer-token authentication of the inference server's requests.

import * as crypto from 'node:crypto';
import type * as http from 'node:http';
import { KServeError } from '../kserve.js';

/** A 401 with the WWW-Authenticate challenge its answer carries. */
export type AuthError = KServeError & { wwwAuthenticate?: string };

function sha256(s: string): Buffer {
  return crypto.createHash('sha256').update(s, 'utf8').digest();
}

/**
 * A check that a request carries `Authorization: Bearer <token>`; it throws an AuthError
 * (E_UNAUTHORIZED, 401) otherwise. Without a token every request passes.
 */
export function bearerAuth(token: string | undefined): (req: http.IncomingMessage) => void {
  const tokenHash = token === undefined ? undefined : sha256(token);
  return (req) => {
    if (!tokenHash) return;
    const h = req.headers.authorization;
    const m = h === undefined ? null : /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(h);
    // Hashing first makes the comparison constant-time regardless of the token's length.
    if (!m || !crypto.timingSafeEqual(sha256(m[1]!), tokenHash)) {
      const e: AuthError = new KServeError(401, 'E_UNAUTHORIZED', h === undefined ? 'missing bearer token (Authorization: Bearer <token>)' : 'invalid bearer token');
      e.wwwAuthenticate = h === undefined ? 'Bearer realm="splitc"' : 'Bearer realm="splitc", error="invalid_token"';
      throw e;
    }
  };
}
