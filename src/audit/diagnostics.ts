// The audit's error codes (members of ErrorCode, see ir/errors.ts).

declare module '../ir/errors.js' {
  interface ErrorCodes {
    E_AUDIT: 'a cut cannot be audited (input not an image batch, nothing differentiable crosses the cut, bad probes)';
  }
}

export {};
