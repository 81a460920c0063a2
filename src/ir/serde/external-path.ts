// Where an external data location leads: the one check shared by tensors' external_data
// entries and the data-file record saveModel writes, so neither reads (or stats) a file
// outside the model's folder, through `..`, an absolute path or a symbolic link.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { SplitcError } from '../errors.js';

export interface DataFile {
  /** The resolved path (links followed): read this, not the joined one. */
  realFile: string;
  size: number;
}

/** The part of the check that needs no file system: no absolute path, no `..` component. */
export function checkLocationText(location: string, subject: string): void {
  if (path.isAbsolute(location) || location.split(/[\\/]/).includes('..')) {
    throw new SplitcError('E_EXTERNAL_DATA', `${subject}: external data location '${location}' points outside the model's folder`, {
      hint: 'external data must be stored next to the model file',
    });
  }
}

/**
 * Resolve `location` against the model folder `baseDir` (`realBaseDir`: the same folder with
 * links resolved) and check it names a regular file inside it. `subject` starts the messages
 * (e.g. "tensor 'w'"). Throws E_EXTERNAL_DATA.
 */
export function resolveDataFile(baseDir: string, realBaseDir: string, location: string, subject: string): DataFile {
  checkLocationText(location, subject);
  const file = path.join(baseDir, location);
  let realFile: string;
  try {
    realFile = fs.realpathSync(file);
  } catch {
    throw new SplitcError('E_EXTERNAL_DATA', `${subject}: external data file '${location}' is missing`, {
      hint: `expected it at ${file}; copy the data file next to the model`,
    });
  }
  // The lexical check above cannot see symbolic links: 'w.bin' or 'd/' may link elsewhere.
  // Checked before anything else touches the file.
  const rel = path.relative(realBaseDir, realFile);
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new SplitcError('E_EXTERNAL_DATA', `${subject}: external data location '${location}' resolves to ${realFile}, outside the model's folder`, {
      hint: "a symbolic link leads out of the folder; copy the data file into the model's folder instead of linking to it",
    });
  }
  let stat: fs.Stats;
  try {
    stat = fs.statSync(realFile);
  } catch {
    throw new SplitcError('E_EXTERNAL_DATA', `${subject}: external data file '${location}' is missing`, {
      hint: `expected it at ${file}; copy the data file next to the model`,
    });
  }
  // a folder, a named pipe (opening it would block) or a device is not a data file
  if (!stat.isFile()) {
    throw new SplitcError('E_EXTERNAL_DATA', `${subject}: external data location '${location}' is not a regular file`, {
      hint: 'location must name the data file itself, not a folder',
    });
  }
  return { realFile, size: stat.size };
}

/** The model folder with links resolved (the folder itself when it cannot be resolved). */
export function realFolder(dir: string): string {
  const abs = path.resolve(dir);
  try {
    return fs.realpathSync(abs);
  } catch {
    return abs;
  }
}
