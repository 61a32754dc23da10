// The shape of a check in the Sink, DeadLetterSink and CheckpointStore suites, and the options of a suite.
export interface PartCheck<F> {
  name: string;
  /** The optional method the check is about: when the fixture declares it lacking, the check proves that. */
  capability?: string;
  run(fixture: F): Promise<void>;
}

export interface PartSuiteOptions<F> {
  /** Checks to run (default: all of the suite). */
  checks?: PartCheck<F>[];
  /** Per-check test timeout (default 120 s). */
  timeoutMs?: number;
}
