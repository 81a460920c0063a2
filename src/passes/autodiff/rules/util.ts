// Small helpers shared by the gradient rules.

/** Axes made non-negative and sorted. */
export function normalizeAxes(axes: readonly number[], rank: number): number[] {
  return [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}
