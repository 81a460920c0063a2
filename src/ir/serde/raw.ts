// Records decoded from the wire before names are resolved into IR values, the reading
// context (source name, external-data folder, nesting depth), and small shared entries.

import type { Attribute, ValueType } from '../graph.js';
import type { Tensor } from '../tensor.js';
import { realFolder } from './external-path.js';
import { WireReader, WireType } from './wire.js';

/** Unmodelled fields of a message, kept as raw wire records. */
export type Extra = Uint8Array[];

export interface RawValueInfo {
  name: string;
  type: ValueType | null;
  doc: string;
}
export interface RawNode {
  inputs: string[];
  outputs: string[];
  name: string;
  opType: string;
  domain: string;
  overload: string;
  doc: string;
  attributes: Attribute[];
  extra: Extra;
}
export interface RawGraph {
  name: string;
  doc: string;
  nodes: RawNode[];
  initializers: Tensor[];
  inputs: RawValueInfo[];
  outputs: RawValueInfo[];
  valueInfo: RawValueInfo[];
  extra: Extra;
}

export class Ctx {
  constructor(
    readonly baseDir: string | undefined,
    readonly source: string,
  ) {}
  depth = 0;
  private realBase: string | undefined;
  /** The model folder with symbolic links resolved (external data must resolve inside it). */
  realBaseDir(): string {
    if (this.realBase === undefined) {
      this.realBase = realFolder(this.baseDir ?? '.');
    }
    return this.realBase;
  }
}

export function readOpset(r: WireReader): [string, number] {
  let domain = '';
  let version = 0;
  while (!r.done()) {
    const f = r.next();
    const wt = r.wt;
    if (f === 1 && wt === WireType.LEN) domain = r.string();
    else if (f === 2 && wt === WireType.VARINT) version = r.safeInt64('opset version');
    else r.skip(wt);
  }
  return [domain, version];
}

export function readStringEntry(r: WireReader): [string, string] {
  let k = '';
  let v = '';
  while (!r.done()) {
    const f = r.next();
    const wt = r.wt;
    if (f === 1 && wt === WireType.LEN) k = r.string();
    else if (f === 2 && wt === WireType.LEN) v = r.string();
    else r.skip(wt);
  }
  return [k, v];
}
