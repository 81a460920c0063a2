// How loud onnxruntime is in the sessions splitc creates. Its log goes straight to the
// process's stderr (native code, or console in wasm), so warnings about the user's model such
// as "Removing initializer 'w'. It is not used by any node" would mix with splitc's own
// messages and --json output: by default only errors are logged. Plain numbers, no
// onnxruntime import, so onnxruntime-node and -web options and generated code share it.

/** onnxruntime's log severity for errors (0 verbose, 1 info, 2 warning, 3 error, 4 fatal). */
export const ORT_LOG_ERRORS_ONLY = 3 as const;

type Severity = 0 | 1 | 2 | 3 | 4;

/** `options` with the log severity defaulting to errors only; a level the caller set wins. */
export function withOrtErrorsOnly<T extends { logSeverityLevel?: Severity | undefined }>(options: T): Omit<T, 'logSeverityLevel'> & { logSeverityLevel: Severity } {
  return { ...options, logSeverityLevel: options.logSeverityLevel ?? ORT_LOG_ERRORS_ONLY };
}
