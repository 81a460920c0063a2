// .npy files in memory, for tests that feed arrays.

/** A .npy file in memory (format 1.0). */
export function npy(descr: string, shape: number[], data: ArrayBufferView, opts: { fortran?: boolean; version?: number } = {}): Uint8Array {
  const dict = `{'descr': '${descr}', 'fortran_order': ${opts.fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const v = opts.version ?? 1;
  const pre = v === 1 ? 10 : 12;
  let header = dict;
  while ((pre + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const out = new Uint8Array(pre + header.length + data.byteLength);
  out.set([0x93, ...Buffer.from('NUMPY'), v, 0]);
  const view = new DataView(out.buffer);
  if (v === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), pre);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pre + header.length);
  return out;
}
