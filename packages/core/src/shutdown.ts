// Graceful shutdown for hosts (the CLI, `ferry serve`): the first SIGINT/SIGTERM asks the pipelines to
// stop (stop reading, flush, save the checkpoint); a second one exits at once.
export interface ShutdownHandle {
  signal: AbortSignal;
  dispose(): void;
}

export function handleShutdownSignals(
  onFirst?: (signal: NodeJS.Signals) => void,
  exit: (code: number) => never = process.exit,
): ShutdownHandle {
  const controller = new AbortController();
  let received = 0;
  const handler = (signal: NodeJS.Signals): void => {
    received += 1;
    if (received === 1) {
      onFirst?.(signal);
      controller.abort(new Error(`received ${signal}`));
      return;
    }
    exit(signal === 'SIGINT' ? 130 : 143);
  };
  const onInt = (): void => handler('SIGINT');
  const onTerm = (): void => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}
