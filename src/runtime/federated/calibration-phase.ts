// The coordinator's SphereFed calibration phase after the last training round: which clients
// upload their V_k/U_k (plain float64, or masked by secure-agg.ts), the checks an upload
// passes, and when the phase closes (all in; or at the deadline: plain solves with those in,
// secure redoes the phase with the clients left, since missing masks do not cancel).

import { SplitcError } from '../../ir/errors.js';
import { addStats, type CalibrationStats, packedLength, unpackStats } from './calibration.js';
import { sumMasked } from './secure-agg.js';

/** The masks' context string: binds every client's masks to this protocol step. */
export const CALIBRATION_CONTEXT = 'splitc fed calibration';

export interface CalibrationPhaseOptions {
  /** Training rounds: attempt a of the phase has round number rounds + a (fresh masks per attempt). */
  rounds: number;
  dim: number;
  classes: number;
  secure: boolean;
  /** Fewest uploads the phase closes with (secure: at least 2, alone the sum is the vector). */
  minClients: number;
  deadlineMs: number;
  now: () => number;
}

/** How the phase ended, for status and history. */
export interface CalibrationRecord {
  /** The round number of the attempt that closed (rounds + attempt). */
  round: number;
  attempts: number;
  /** Clients whose statistics were summed, sorted. */
  clients: string[];
  /** Participants of that attempt that sent nothing (plain, closed at the deadline). */
  stragglers: string[];
  closedBy: 'all-in' | 'deadline';
  samples: number;
}

const conflict = (why: string, hint?: string): SplitcError => new SplitcError('E_FED_ROUND', why, hint ? { hint } : {});

export class CalibrationPhase {
  attempt = 0;
  participants: string[] | null = null;
  deadline: number | null = null;
  /** Uploads of the current attempt, by client: what the coordinator holds (masked bytes when secure). */
  readonly uploads = new Map<string, Float64Array | Uint8Array>();

  constructor(readonly options: CalibrationPhaseOptions) {}

  /** The current attempt's round number (rounds + attempt). */
  get round(): number {
    return this.options.rounds + Math.max(1, this.attempt);
  }

  /** Starts an attempt with these participants (sorted): uploads of an earlier attempt are dropped. */
  open(participants: string[]): void {
    this.attempt++;
    this.participants = [...participants].sort();
    this.deadline = this.options.now() + this.options.deadlineMs;
    this.uploads.clear();
  }

  /** Bytes (secure) or float64 values (plain) one upload has. */
  expectedLength(): number {
    const n = packedLength(this.options.dim, this.options.classes);
    // secure-agg: 8-byte header, one 64-bit word per value and the check word
    return this.options.secure ? 8 + 8 * (n + 1) : n;
  }

  /** Accepts one participant's upload for the current attempt, or throws E_FED_ROUND / E_FED_UPDATE. */
  submit(client: string, round: number, upload: Float64Array | Uint8Array): void {
    const who = `client ${client.slice(0, 80)}`;
    if (!this.participants) throw conflict(`the calibration phase has not opened yet (it waits for ${this.options.minClients} clients${this.options.secure ? ' with public keys' : ''})`);
    if (round !== this.round) throw conflict(`${who}'s calibration statistics are for round ${round}, the calibration round is ${this.round}`, 'fetch GET /v2/federated/calibration and compute for its round');
    if (!this.participants.includes(client)) throw conflict(`${who} is not a participant of calibration round ${round}`);
    if (this.uploads.has(client)) throw conflict(`${who} already sent its calibration statistics for round ${round}`);
    const secure = this.options.secure;
    if (secure !== upload instanceof Uint8Array) {
      throw new SplitcError('E_FED_UPDATE', `${who}'s calibration statistics must be ${secure ? 'masked (UINT8, secure aggregation)' : 'plain (FP64)'}`);
    }
    if (upload.length !== this.expectedLength()) {
      throw new SplitcError('E_FED_UPDATE', `${who}'s calibration statistics have ${upload.length} ${secure ? 'bytes' : 'values'}, the phase's ${this.expectedLength()}`);
    }
    if (upload instanceof Float64Array) {
      for (let i = 0; i < upload.length; i++) if (!Number.isFinite(upload[i]!)) throw new SplitcError('E_FED_UPDATE', `${who}'s calibration statistics have a value that is not finite (element ${i})`);
    }
    this.uploads.set(client, upload);
  }

  /**
   * Opens the first attempt once `eligible` clients suffice, and closes an attempt when due:
   * returns the summed statistics and the record when the phase is over, else null. At the
   * deadline, plain sums those in (if enough), secure opens a new attempt with them (else with
   * every eligible client). Masks that do not cancel (a key changed mid-phase) also reopen.
   */
  tick(eligible: readonly string[]): { sum: CalibrationStats; record: CalibrationRecord } | null {
    const { minClients, now, secure, dim, classes } = this.options;
    const need = secure ? Math.max(2, minClients) : minClients;
    if (!this.participants) {
      if (eligible.length >= need) this.open([...eligible]);
      return null;
    }
    const allIn = this.uploads.size === this.participants.length;
    if (!allIn && now() < this.deadline!) return null;
    const inIds = [...this.uploads.keys()].sort();
    if (!allIn && (secure || inIds.length < need)) {
      // secure: the masks of the missing clients do not cancel; redo with those who answered
      this.open(inIds.length >= need ? inIds : eligible.length >= need ? [...eligible] : this.participants);
      return null;
    }
    let sum: CalibrationStats;
    if (secure) {
      try {
        sum = unpackStats(sumMasked(inIds.map((c) => this.uploads.get(c) as Uint8Array)), dim, classes);
      } catch (e) {
        if (!(e instanceof SplitcError)) throw e;
        this.open(eligible.length >= need ? [...eligible] : inIds);
        return null;
      }
    } else {
      sum = inIds.map((c) => unpackStats(this.uploads.get(c) as Float64Array, dim, classes)).reduce((a, s) => addStats(a, s));
    }
    const record: CalibrationRecord = {
      round: this.round,
      attempts: this.attempt,
      clients: inIds,
      stragglers: this.participants.filter((c) => !this.uploads.has(c)),
      closedBy: allIn ? 'all-in' : 'deadline',
      samples: sum.n,
    };
    return { sum, record };
  }
}
