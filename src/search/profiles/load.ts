// Loading a profile by preset name or from a JSON file, with errors that say where the file
// or its JSON went wrong.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { SplitcError } from '../../ir/errors.js';
import { parseDeviceProfile, parseLinkProfile } from './parse.js';
import { devicePreset, linkPreset, presetHint } from './presets.js';
import type { DeviceProfile, LinkProfile } from './types.js';

// ---------------------------------------------------------------- loading

/** A device preset name, or a path to a device profile JSON file. */
export function loadDeviceProfile(nameOrPath: string): DeviceProfile {
  return devicePreset(nameOrPath) ?? parseDeviceProfile(readProfileJson(nameOrPath, 'device'), nameOrPath);
}

/** A link preset name, or a path to a link profile JSON file. */
export function loadLinkProfile(nameOrPath: string): LinkProfile {
  return linkPreset(nameOrPath) ?? parseLinkProfile(readProfileJson(nameOrPath, 'link'), nameOrPath);
}

/** A bare word that is no file is taken as a (mistyped) preset name, not as a missing file. */
function looksLikePath(s: string): boolean {
  return s.includes('/') || s.includes(path.sep) || s.toLowerCase().endsWith('.json') || fs.existsSync(s);
}

function readProfileJson(file: string, kind: 'device' | 'link'): unknown {
  const hint = presetHint(kind);
  if (!looksLikePath(file)) {
    const other = kind === 'device' ? 'link' : 'device';
    const isOther = kind === 'device' ? linkPreset(file) !== undefined : devicePreset(file) !== undefined;
    const problem = isOther ? `is a ${other} preset, not a ${kind} preset` : `is neither a ${kind} preset nor a file`;
    throw new SplitcError('E_PROFILE', `${kind} profile ${JSON.stringify(file)} ${problem}`, { hint });
  }
  let text: string;
  try {
    if (fs.statSync(file).isDirectory()) throw new SplitcError('E_PROFILE', `${kind} profile ${file} is a folder, not a JSON file`, { hint });
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof SplitcError) throw e;
    const reason = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new SplitcError('E_PROFILE', `cannot read ${kind} profile ${file}: ${reason}`, { hint, cause: e });
  }
  // Editors on Windows may start the file with a byte order mark, which JSON.parse rejects.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SplitcError('E_PROFILE', `${kind} profile ${file} is not valid JSON: ${jsonErrorWhere(text, (e as Error).message)}`, { hint, cause: e });
  }
}

/** V8's JSON message with the line and column of the error (Node 20's messages often carry neither). */
function jsonErrorWhere(text: string, message: string): string {
  const offset = jsonErrorOffset(text);
  if (offset === null) return message;
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  // V8 may quote the whole text (newlines included) or its own position: the terminal line needs neither.
  const what = message.replace(/, ".*" is not valid JSON$/s, '').replace(/ (?:in|after) JSON at position \d+.*$/s, '');
  return `line ${line}, column ${column}: ${what}`;
}

/**
 * Offset of the first syntax error in `text`, by a small JSON recognizer (JSON.parse says
 * what is wrong but, depending on the Node version, not where); null if it finds none.
 */
function jsonErrorOffset(text: string): number | null {
  const stop = Symbol('stop');
  let i = 0;
  const fail = (): never => {
    throw stop;
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const expect = (ch: string): void => {
    if (text[i] !== ch) fail();
    i++;
  };
  const str = (): void => {
    expect('"');
    for (;;) {
      const ch = text[i];
      if (ch === undefined || ch < ' ') fail();
      if (ch === '"') return void i++;
      if (ch === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) fail();
      }
      i++;
    }
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const value = (): void => {
    ws();
    const ch = text[i];
    if (ch === '{' || ch === '[') {
      const close = ch === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) return void i++;
      for (;;) {
        if (close === '}') {
          ws();
          str();
          ws();
          expect(':');
        }
        value();
        ws();
        if (text[i] === ',') i++;
        else return expect(close);
      }
    }
    if (ch === '"') return str();
    const literal = ch === 't' ? 'true' : ch === 'f' ? 'false' : ch === 'n' ? 'null' : null;
    if (literal) {
      // Character by character, so `tru}` points at the `}` as V8's message does.
      for (const c of literal) expect(c);
      return;
    }
    NUMBER.lastIndex = i;
    if (!NUMBER.test(text)) fail();
    i = NUMBER.lastIndex;
  };
  try {
    value();
    ws();
    return i < text.length ? i : null;
  } catch (e) {
    if (e === stop) return i;
    if (e instanceof RangeError) return null; // nesting deeper than the stack: no position, V8's message stands
    throw e;
  }
}
