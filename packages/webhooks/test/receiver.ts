// A webhook receiver on loopback for the tests: node:http, every request checked with the official
// `standardwebhooks` package (not Ferry's code), every request and answer recorded; how it answers is up to
// each test (`behave`), so failures, Retry-After and slow answers can be staged.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  id: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** Which of the receiver's secrets verified the signature (index), or -1 for none. */
  verifiedWith: number;
  at: number;
  /** What the receiver answered, and when it finished answering. */
  status?: number;
  answeredAt?: number;
}

export type Behaviour = (
  request: Received,
  nth: number,
) => {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  delayMs?: number;
};

export interface Receiver {
  url: string;
  received: Received[];
  /** The secrets signatures are checked against (change them to stage a rotation). */
  secrets: string[];
  behave: Behaviour;
  close(): Promise<void>;
}

export async function startReceiver(
  secrets: string[],
  behave: Behaviour = () => ({ status: 204 }),
): Promise<Receiver> {
  const receiver: Receiver = {
    url: '',
    received: [],
    secrets,
    behave,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  const server: Server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const headers = request.headers;
    const verifiedWith = receiver.secrets.findIndex((secret) => {
      try {
        new Webhook(secret).verify(body, headers as Record<string, string>);
        return true;
      } catch {
        return false;
      }
    });
    const record: Received = {
      id: String(headers['webhook-id']),
      headers,
      body,
      verifiedWith,
      at: Date.now(),
    };
    const nth = receiver.received.push(record);
    const answer = receiver.behave(record, nth);
    if (answer.delayMs) await new Promise((done) => setTimeout(done, answer.delayMs));
    record.status = answer.status;
    if (!response.destroyed) response.writeHead(answer.status, answer.headers).end(answer.body ?? '');
    record.answeredAt = Date.now();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return receiver;
}
