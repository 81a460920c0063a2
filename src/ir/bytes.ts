// Arrays joined end to end: the parts of a serialized model or of an HTTP body, the
// tensors of a batch. A leaf without imports (browser bundles copy it with the wire format).

/** What concatTyped can join: typed arrays (or any array-like with `set`) of one kind. */
export interface Joinable<T> {
  readonly length: number;
  set(array: T, offset?: number): void;
}

/** A new array of `ctor` holding `parts` one after another (`length`: their total, when known). */
export function concatTyped<T extends Joinable<T>>(ctor: new (length: number) => T, parts: readonly T[], length?: number): T {
  let n = length ?? 0;
  if (length === undefined) for (const p of parts) n += p.length;
  const out = new ctor(n);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** The bytes of `parts` in one new array. */
export function concatBytes(parts: readonly Uint8Array[], length?: number): Uint8Array {
  return concatTyped(Uint8Array, parts, length);
}
