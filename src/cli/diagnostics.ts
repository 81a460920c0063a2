// The command line's own error codes (members of ErrorCode, see ir/errors.ts).

declare module '../ir/errors.js' {
  interface ErrorCodes {
    E_RISK: '--fail-on: a cut reached the risk level that fails the run';
  }
}

export {};
