// Search's error codes (profiles, profiler, calibration data, plans; members of ErrorCode,
// see ir/errors.ts).

declare module '../ir/errors.js' {
  interface ErrorCodes {
    E_CALIB: "calibration data is missing, unreadable or does not fit the model's inputs";
    E_PROFILE: 'a device or link profile is unknown, unreadable or invalid';
    E_PROFILER: 'measuring latencies failed (the backend could not run the model or gave no profile)';
    E_PLAN: 'a plan file is unreadable or does not match the model it names';
    E_CONSTRAINT: "no cut satisfies the plan's constraints (names the constraint)";
  }
}

export {};
