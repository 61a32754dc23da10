// Loopback stand-ins for a system that is down or hung, for tests of timeouts and readiness probes.
import { createServer, type Socket } from 'node:net';

/** A loopback port that was free a moment ago and has no listener now (connection refused). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface SilentServer {
  port: number;
  /** Connections accepted so far. */
  sockets: Socket[];
  /** How many of them the client has closed. */
  closed(): number;
  /** Drop every connection and stop listening. */
  close(): Promise<void>;
}

/** A loopback server that accepts connections and never says a word (a hung database, broker or host). */
export async function silentServer(): Promise<SilentServer> {
  const sockets: Socket[] = [];
  let closed = 0;
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.resume(); // read and drop what the client sends, so its close is seen
    socket.on('close', () => {
      closed += 1;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    sockets,
    closed: () => closed,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** How a promise settled (the rejection, or undefined) and how long it took. */
export async function settled(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  return { error, ms: Date.now() - started };
}
