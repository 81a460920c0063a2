// Trainer checkpoints as files (Node): written atomically (temp file, then rename), read with
// a coded error; the bytes are the trainer's own (Trainer.checkpointParts / restoreCheckpoint).

import * as fs from 'node:fs';
import { ioError } from '../../ir/errors.js';
import { writeFileAtomic } from '../../ir/temp-files.js';
import type { Trainer } from './trainer.js';

/** Write the trainer's checkpoint to `file` (temp file, then rename). */
export function saveCheckpoint(trainer: Trainer, file: string): void {
  writeFileAtomic(file, trainer.checkpointParts(), { what: `checkpoint ${file}` });
}

/** Restore the trainer from a checkpoint file written by `saveCheckpoint` for the same model. */
export function loadCheckpoint(trainer: Trainer, file: string): void {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw ioError(`cannot read checkpoint ${file}`, e);
  }
  trainer.restoreCheckpoint(buf, file);
}
