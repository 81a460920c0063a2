// Progress bars for long CLI work (calibration runs, fidelity measurement, profiling): drawn on
// stderr only when it is a terminal and the command is not in --json mode, otherwise nothing.
//
// The layers below the CLI do not import this: their long functions take an optional
// `onProgress({done, total})` callback, and a command hands them `progress.task(label)`:
//
//   const progress = createProgress({ json: args.json });
//   try {
//     const samples = calibrationSamples(source, inputs, ctx, progress.task('reading calibration data'));
//     await calibrateAndCompress(split, spec, samples, { ctx, onProgress: progress.task('calibrating') });
//     await measureFidelity(model, compressed, sets, { onProgress: progress.task('measuring fidelity') });
//   } finally {
//     progress.stop(); // clears the bar, also when the work threw
//   }
//   process.stdout.write(report);
//
// or `await withProgress({ json }, async (progress) => …)`, which stops it in any case.

import cliProgress from 'cli-progress';

/** What the reporter writes to: process.stderr, or a fake in tests. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): boolean;
}

export interface ProgressOptions {
  /** --json: never draw, whatever the stream is. */
  json?: boolean;
  /** Default process.stderr. */
  stream?: ProgressStream;
}

/** One report from a long operation: `done` of `total` units (samples, runs, files) finished. */
export interface ProgressUpdate {
  done: number;
  total: number;
}

export interface ProgressReporter {
  /** Whether anything is drawn (a terminal, not --json). When false every method is a no-op. */
  readonly enabled: boolean;
  /**
   * An `onProgress` callback for one task: draws "label [bar] done/total | ETA". A task with
   * another label replaces the current bar; `total` may change between calls (estimates);
   * updates with `total` ≤ 0 are ignored.
   */
  task(label: string): (p: ProgressUpdate) => void;
  /** A line on stderr above the bar (only when enabled: progress is for people at a terminal). */
  log(line: string): void;
  /** Clear the bar from the terminal. Idempotent; the reporter may be used again afterwards. */
  stop(): void;
}

const DISABLED: ProgressReporter = { enabled: false, task: () => () => {}, log: () => {}, stop: () => {} };

export function createProgress(opts: ProgressOptions = {}): ProgressReporter {
  const stream = opts.stream ?? process.stderr;
  if (opts.json || !stream.isTTY) return DISABLED;
  const bar = new cliProgress.SingleBar({
    stream: stream as NodeJS.WritableStream,
    format: '{label} [{bar}] {value}/{total} | ETA {eta_formatted}',
    barsize: 30,
    clearOnComplete: true,
    hideCursor: false,
    etaBuffer: 50,
    // cli-progress says 'INF'/'NULL' (mangled to "LLs") while nothing moved, or '0' before the first update
    formatTime: (t, options, roundTo) => (typeof t === 'number' && Number.isFinite(t) ? cliProgress.Format.TimeFormat(t, options, roundTo) : '?'),
  });
  let current: { label: string; done: number; total: number } | null = null;
  const stop = (): void => {
    if (current) bar.stop();
    current = null;
  };
  return {
    enabled: true,
    task: (label) => (p) => {
      if (!(p.total > 0)) return;
      const done = Math.min(p.done, p.total);
      if (current?.label !== label) {
        stop();
        bar.start(p.total, done, { label });
      } else {
        if (p.total !== current.total) bar.setTotal(p.total);
        bar.update(done);
      }
      current = { label, done, total: p.total };
    },
    log: (line) => {
      const was = current;
      stop();
      stream.write(`${line}\n`);
      if (was) {
        bar.start(was.total, was.done, { label: was.label });
        current = was;
      }
    },
    stop,
  };
}

/** Run `work` with a reporter that is stopped (the bar cleared) when it ends, also on error. */
export async function withProgress<T>(opts: ProgressOptions, work: (progress: ProgressReporter) => Promise<T>): Promise<T> {
  const progress = createProgress(opts);
  try {
    return await work(progress);
  } finally {
    progress.stop();
  }
}
