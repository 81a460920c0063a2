// Pairwise-mask secure aggregation (Bonawitz et al., CCS 2017, the masking round only): each
// client uploads its vector in fixed point plus, for every other client, a mask that client
// subtracts, so the coordinator learns only the sum. Platform-neutral: WebCrypto
// (globalThis.crypto.subtle, Node 20 and browsers) for ECDH P-256 seeds and the AES-CTR PRG.
//
// Protocol, per round: every client publishes an ECDH public key (`createMaskingKeys`); client
// i derives with each peer j the shared secret s_ij, expands it by HKDF-SHA-256 (bound to the
// context, the round and the whole participant set) into an AES-256-CTR key whose keystream
// is the mask PRG(s_ij), and uploads x_i + Σ_{j>i} PRG(s_ij) − Σ_{j<i} PRG(s_ij) mod 2^64
// (ids ordered as strings). The masks cancel in the sum of all uploads, exactly.
//
// Threat model. Protects each client's vector from an honest-but-curious coordinator that
// relays the public keys faithfully and does not collude with clients: one upload (or any
// proper subset) is uniformly random words. Does NOT provide: (1) dropout recovery —
// Bonawitz's Shamir sharing of the seeds is left out, so if any client's upload is missing
// the masks do not cancel; `sumMasked` detects this (a check word each client sets to 1 must
// sum to the number of uploads) and the round is redone with the clients left, whose new
// participant set gives fresh masks; (2) protection against a coordinator that substitutes
// public keys (a man in the middle learns every vector: authenticate keys out of band), or
// that shows clients different participant sets; (3) integrity: a client can upload any
// vector, and words altered in transit go unnoticed unless they hit the check word (use
// TLS); (4) privacy of the sum itself: the coordinator learns Σ x_i, and with two clients
// each learns the other's vector from it. Never reuse (context, round, participant set) for
// two different vectors: the difference of two uploads under the same masks is the difference
// of the vectors.

import { SplitcError } from '../../ir/errors.js';

/** Fixed point: values are scaled by 2^32 and held in 64-bit two's complement words. */
export const FIXED_POINT_BITS = 32;
const SCALE = 2 ** FIXED_POINT_BITS;
/**
 * |value| (and |sum|) must stay below 2^31 ≈ 2.1e9: the sums of SphereFed's V over 100
 * clients of 60,000 samples are at most 6e6, with a resolution of 2^-32 ≈ 2.3e-10 per
 * client (100 clients: < 1.2e-8 absolute, 2e-15 relative at V's diagonal).
 */
export const MAX_ABS_VALUE = 2 ** (63 - FIXED_POINT_BITS);

const MAGIC = 0x31474153; // 'SAG1' little-endian
const HEADER_BYTES = 8;
const WORD_BYTES = 8;

/** A client's ECDH key pair for one session: the public key (raw P-256 point, 65 bytes) is published. */
export interface MaskingKeys {
  publicKey: Uint8Array;
  privateKey: CryptoKey;
}

export interface MaskingPeer {
  id: string;
  publicKey: Uint8Array;
}

const subtle = (): SubtleCrypto => {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new SplitcError('E_SECURE_AGG', 'WebCrypto (globalThis.crypto.subtle) is not available', { hint: 'use Node 20 or a browser page served over https or from localhost' });
  return s;
};

const ECDH = { name: 'ECDH', namedCurve: 'P-256' } as const;

export async function createMaskingKeys(): Promise<MaskingKeys> {
  const pair = (await subtle().generateKey(ECDH, false, ['deriveBits'])) as { publicKey: CryptoKey; privateKey: CryptoKey };
  return { publicKey: new Uint8Array(await subtle().exportKey('raw', pair.publicKey)), privateKey: pair.privateKey };
}

/** The AES-CTR key of the pair's mask: HKDF of the ECDH secret, bound to context, round and participant set. */
async function pairKey(privateKey: CryptoKey, peerPublic: Uint8Array, info: string): Promise<CryptoKey> {
  let pub: CryptoKey;
  try {
    pub = await subtle().importKey('raw', Uint8Array.from(peerPublic), ECDH, false, []);
  } catch {
    throw new SplitcError('E_SECURE_AGG', 'a peer public key is not a raw P-256 point');
  }
  const secret = await subtle().deriveBits({ name: 'ECDH', public: pub }, privateKey, 256);
  const hkdf = await subtle().importKey('raw', secret, 'HKDF', false, ['deriveKey']);
  return subtle().deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(32), info: new TextEncoder().encode(info) }, hkdf, { name: 'AES-CTR', length: 256 }, false, ['encrypt']);
}

/** `words` 64-bit words of AES-256-CTR keystream (counter block from 0). */
async function keystream(key: CryptoKey, words: number): Promise<DataView> {
  const zeros = new Uint8Array(words * WORD_BYTES);
  return new DataView(await subtle().encrypt({ name: 'AES-CTR', counter: new Uint8Array(16), length: 64 }, key, zeros));
}

/** Words as little-endian (lo, hi) uint32 pairs: a + b or a − b mod 2^64, into a. */
function addWords(a: Uint32Array, b: DataView, sign: 1 | -1): void {
  for (let i = 0; i < a.length; i += 2) {
    const blo = b.getUint32(i * 4, true);
    const bhi = b.getUint32(i * 4 + 4, true);
    if (sign > 0) {
      const lo = a[i]! + blo;
      const carry = lo >= SCALE ? 1 : 0;
      a[i] = lo - carry * SCALE;
      a[i + 1] = (a[i + 1]! + bhi + carry) >>> 0;
    } else {
      const lo = a[i]! - blo;
      const borrow = lo < 0 ? 1 : 0;
      a[i] = lo + borrow * SCALE;
      a[i + 1] = (a[i + 1]! - bhi - borrow) >>> 0;
    }
  }
}

/** value · 2^32, rounded, as a 64-bit two's complement (lo, hi) pair. */
function encode(values: Float64Array): Uint32Array {
  const w = new Uint32Array(2 * (values.length + 1));
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (!Number.isFinite(x) || Math.abs(x) >= MAX_ABS_VALUE) {
      throw new SplitcError('E_SECURE_AGG', `value ${i} (${x}) cannot be encoded: fixed point holds finite values below ${MAX_ABS_VALUE} in magnitude`);
    }
    const r = Math.round(x * SCALE);
    const hi = Math.floor(r / SCALE);
    w[2 * i] = r - hi * SCALE;
    w[2 * i + 1] = hi >>> 0;
  }
  // The check word: 1 from every client, so the sum says how many uploads it holds.
  w[2 * values.length + 1] = 1;
  return w;
}

function participantInfo(context: string, round: number, ids: string[]): string {
  return `splitc secure-agg v1\n${context}\nround ${round}\n${ids.join('\n')}`;
}

/**
 * The masked upload of `values` for `round` (an integer): header, then the words. `peers` are
 * the other clients of the round (an entry with `self.id` is skipped); every client of the
 * round must be given the same set, round and `context` (e.g. the task's id).
 */
export async function maskVector(values: Float64Array, self: { id: string; privateKey: CryptoKey }, peers: readonly MaskingPeer[], round: number, context = ''): Promise<Uint8Array> {
  if (!Number.isInteger(round) || round < 0) throw new SplitcError('E_BAD_ARGUMENT', `round must be an integer ≥ 0, got ${round}`);
  const others = peers.filter((p) => p.id !== self.id);
  const ids = [self.id, ...others.map((p) => p.id)].sort();
  if (new Set(ids).size !== ids.length) throw new SplitcError('E_SECURE_AGG', 'client ids of a secure-aggregation round must be distinct');
  if (others.length === 0) throw new SplitcError('E_SECURE_AGG', 'secure aggregation needs at least two clients: alone, the sum is the vector', { hint: 'aggregate the statistics of two or more clients' });
  const words = encode(values);
  const info = participantInfo(context, round, ids);
  for (const peer of others) {
    const stream = await keystream(await pairKey(self.privateKey, peer.publicKey, info), words.length / 2);
    addWords(words, stream, self.id < peer.id ? 1 : -1);
  }
  const out = new Uint8Array(HEADER_BYTES + words.length * 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, words.length / 2, true);
  for (let i = 0; i < words.length; i++) view.setUint32(HEADER_BYTES + i * 4, words[i]!, true);
  return out;
}

/** Words of one upload after checking its header. */
function wordsOf(upload: Uint8Array, k: number): DataView {
  const view = new DataView(upload.buffer, upload.byteOffset, upload.byteLength);
  if (upload.byteLength < HEADER_BYTES || view.getUint32(0, true) !== MAGIC) throw new SplitcError('E_SECURE_AGG', `upload ${k} is not a masked vector`);
  const count = view.getUint32(4, true);
  if (upload.byteLength !== HEADER_BYTES + count * WORD_BYTES || count < 1) throw new SplitcError('E_SECURE_AGG', `upload ${k} is ${upload.byteLength} bytes; its header says ${count} words`);
  return new DataView(upload.buffer, upload.byteOffset + HEADER_BYTES, count * WORD_BYTES);
}

/**
 * The sum of the clients' vectors from all their masked uploads (in any order). Throws
 * E_SECURE_AGG when the masks did not cancel: an upload missing, or made for another round,
 * context or participant set.
 */
export function sumMasked(uploads: readonly Uint8Array[]): Float64Array {
  if (uploads.length === 0) throw new SplitcError('E_SECURE_AGG', 'no uploads to sum');
  const views = uploads.map(wordsOf);
  const count = views[0]!.byteLength / WORD_BYTES;
  if (views.some((v) => v.byteLength !== count * WORD_BYTES)) throw new SplitcError('E_SECURE_AGG', 'masked uploads of different lengths cannot be summed');
  const sum = new Uint32Array(2 * count);
  for (const v of views) addWords(sum, v, 1);
  const checkLo = sum[2 * count - 2]!;
  const checkHi = sum[2 * count - 1]!;
  if (checkLo !== 0 || checkHi !== uploads.length) {
    throw new SplitcError('E_SECURE_AGG', `the masks did not cancel: ${uploads.length} upload${uploads.length === 1 ? '' : 's'} do not make a whole round`, {
      hint: 'every client of the round must upload, all with the same round, context and participant set; redo the round with the clients that remain',
    });
  }
  const out = new Float64Array(count - 1);
  for (let i = 0; i < count - 1; i++) out[i] = (sum[2 * i + 1]! | 0) + sum[2 * i]! / SCALE;
  return out;
}

/** Decodes one word vector without masks (for tests and diagnostics: a single upload decodes to noise). */
export function decodeUnmasked(upload: Uint8Array): Float64Array {
  const v = wordsOf(upload, 0);
  const count = v.byteLength / WORD_BYTES;
  return Float64Array.from({ length: count - 1 }, (_, i) => (v.getUint32(i * 8 + 4, true) | 0) + v.getUint32(i * 8, true) / SCALE);
}
