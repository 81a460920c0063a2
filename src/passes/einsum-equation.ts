// Einsum equations ('bij,bjk->bik', '...ii->...i', implicit 'ij,jk'), parsed once for the
// shape rule and the gradient rule.

/** One operand or output term: its letters, and where '...' sits among them (-1: none). */
export interface EinsumTerm {
  labels: string[];
  ellipsis: number;
}

export interface EinsumEquation {
  /** The equation without whitespace. */
  text: string;
  inputs: EinsumTerm[];
  /** The explicit output ('->'), or null for an implicit one. */
  output: EinsumTerm | null;
}

export const EINSUM_LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Parse an equation; a character that is not a letter or one '...' per term goes to `fail`. */
export function parseEinsum(equation: string, fail: (message: string) => never): EinsumEquation {
  const text = equation.replace(/\s+/g, '');
  const arrow = text.indexOf('->');
  const term = (part: string): EinsumTerm => {
    const labels: string[] = [];
    let ellipsis = -1;
    for (let i = 0; i < part.length; ) {
      if (part.startsWith('...', i) && ellipsis < 0) {
        ellipsis = labels.length;
        i += 3;
        continue;
      }
      const ch = part[i]!;
      if (!EINSUM_LETTERS.includes(ch)) fail(`equation '${equation}' has '${ch}' in term '${part}': labels are letters a-z, A-Z and one '...' per term`);
      labels.push(ch);
      i++;
    }
    return { labels, ellipsis };
  };
  return {
    text,
    inputs: (arrow >= 0 ? text.slice(0, arrow) : text).split(',').map(term),
    output: arrow >= 0 ? term(text.slice(arrow + 2)) : null,
  };
}

/** A term written back ('b...ij'). */
export function einsumTermText(t: EinsumTerm): string {
  return t.ellipsis < 0 ? t.labels.join('') : `${t.labels.slice(0, t.ellipsis).join('')}...${t.labels.slice(t.ellipsis).join('')}`;
}
