// ts-morph, loaded on first use: importing it costs about a second, which every splitc command
// that writes no bundle (inspect, plan, a coded error) would otherwise pay at start-up.
import { createRequire } from 'node:module';
import type * as TsMorph from 'ts-morph';

const require = createRequire(import.meta.url);
let loaded: typeof TsMorph | undefined;

/** The ts-morph module (and the TypeScript compiler it ships as `ts`). */
export function tsMorph(): typeof TsMorph {
  return (loaded ??= require('ts-morph') as typeof TsMorph);
}
