// Where gradient rules switch between formulations of the same result, measured with
// onnxruntime-node 1.30 on 2 threads (see the comments of convDataGrad, im2colCorrelation
// and the elementwise `keep`). Passed through AutodiffOptions.tuning; tests and benchmarks
// force one side or the other.

export interface ConvGradTuning {
  /** 'fast': flipped Conv and im2col wherever exact; 'fallback': ConvTranspose and the swapped Conv. */
  force: 'fast' | 'fallback' | null;
  /** Data gradient: the flipped Conv needs this many input channels (else ConvTranspose)… */
  flipMinChannels: number;
  /** …and with graph-input weights (group 1, ≤ 2 spatial axes) runs over the batch as a depth axis below this many input positions. */
  flipMinPositions: number;
  /** Weight gradient: im2col needs this many output positions when the batch is not 1… */
  im2colMinPositions: number;
  /** …and at most this many im2col elements. */
  im2colMaxElements: number;
  /** The separable im2col when it writes at most this fraction of the full one's elements (Infinity: wherever possible). */
  separableMaxRatio: number;
  /** Strided data gradients (dilation 1, 1–2 axes) by phases instead of ConvTranspose… */
  polyphase: boolean;
  /** …when dY has at least this many elements (below, the extra nodes cost more than they save). */
  polyphaseMinElements: number;
}

export interface MaskTuning {
  /** Masks over at least this many elements multiply instead of selecting (see `keep` in rules/elementwise.ts). */
  productMinElements: number;
}

export interface GradTuning {
  conv: ConvGradTuning;
  mask: MaskTuning;
}

/** Overrides of some of the defaults. */
export interface GradTuningOptions {
  conv?: Partial<ConvGradTuning>;
  mask?: Partial<MaskTuning>;
}

export const DEFAULT_GRAD_TUNING: Readonly<GradTuning> = Object.freeze({
  conv: Object.freeze({
    force: null,
    flipMinChannels: 4,
    flipMinPositions: 64,
    im2colMinPositions: 32,
    im2colMaxElements: 1 << 26,
    separableMaxRatio: 0.72,
    polyphase: true,
    polyphaseMinElements: 1 << 16,
  }),
  mask: Object.freeze({ productMinElements: 1 << 16 }),
});

export function gradTuning(over: GradTuningOptions = {}): GradTuning {
  return { conv: { ...DEFAULT_GRAD_TUNING.conv, ...over.conv }, mask: { ...DEFAULT_GRAD_TUNING.mask, ...over.mask } };
}
