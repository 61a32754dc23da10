// A wrong option of `ferry reconcile`, in a module of its own: the command parses its options with it
// before it imports the readers (and @ferry/database with them).
import { ConfigError } from '@ferry/core';

/** A wrong option: a ConfigError so the exit code is 2, like every other usage error. */
class ReconcileUsageError extends ConfigError {
  constructor(path: string, message: string) {
    super(undefined, [{ path, message }], 'RECONCILE_USAGE');
    // ConfigError words its message for pipeline files; this is about a command-line option.
    this.message = `${path}: ${message}`;
  }
}

export function usage(path: string, message: string): ConfigError {
  return new ReconcileUsageError(path, message);
}
