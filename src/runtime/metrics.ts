// Prometheus text-format metrics (exposition format 0.0.4): counters, gauges and histograms
// with labels, kept in memory by the inference server.

type Labels = Record<string, string>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function keyOf(labels: Labels): string {
  // Called for every observation: plain concatenation (label names and values are strings
  // without control characters in practice; the separators keep distinct sets distinct).
  let k = '';
  for (const name in labels) k += `${name}\u0000${labels[name]}\u0001`;
  return k;
}

function num(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

interface Metric {
  render(): string;
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = keyOf(labels);
    const e = this.values.get(k);
    if (e) e.value += by;
    else this.values.set(k, { labels, value: by });
  }
  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels))?.value ?? 0;
  }
  render(): string {
    let s = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    for (const e of this.values.values()) s += `${this.name}${labelText(e.labels)} ${num(e.value)}\n`;
    return s;
  }
}

export class Gauge implements Metric {
  private readonly values = new Map<string, { labels: Labels; read: () => number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  /** Gauges are read when rendered, so they never drift from the state they describe. */
  track(read: () => number, labels: Labels = {}): void {
    this.values.set(keyOf(labels), { labels, read });
  }
  render(): string {
    let s = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n`;
    for (const e of this.values.values()) s += `${this.name}${labelText(e.labels)} ${num(e.read())}\n`;
    return s;
  }
}

export class Histogram implements Metric {
  private readonly values = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    /** Upper bounds, ascending; +Inf is implicit. */
    readonly buckets: readonly number[],
  ) {}
  observe(value: number, labels: Labels = {}): void {
    const k = keyOf(labels);
    let e = this.values.get(k);
    if (!e) {
      e = { labels, counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.values.set(k, e);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) e.counts[i]!++;
    e.sum += value;
    e.count++;
  }
  render(): string {
    let s = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    for (const e of this.values.values()) {
      this.buckets.forEach((b, i) => {
        s += `${this.name}_bucket${labelText(e.labels, ['le', num(b)])} ${e.counts[i]}\n`;
      });
      s += `${this.name}_bucket${labelText(e.labels, ['le', '+Inf'])} ${e.count}\n`;
      s += `${this.name}_sum${labelText(e.labels)} ${num(e.sum)}\n`;
      s += `${this.name}_count${labelText(e.labels)} ${e.count}\n`;
    }
    return s;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  render(): string {
    return this.metrics.map((m) => m.render()).join('');
  }
}

/** A parsed sample of the text format (for tests and tools). */
export interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

/** Parses Prometheus text format; throws on a line it cannot read. */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
      let lm: RegExpExecArray | null;
      let consumed = 0;
      while ((lm = re.exec(m[3])) !== null) {
        labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
        consumed = re.lastIndex;
      }
      if (consumed !== m[3].length) throw new Error(`bad labels in: ${line}`);
    }
    const v = m[4]!;
    const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : v === 'NaN' ? NaN : Number(v);
    if (Number.isNaN(value) && v !== 'NaN') throw new Error(`bad value in: ${line}`);
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}
