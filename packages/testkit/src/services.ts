// Where the real test services of test/services/ listen (started by `npm test` / `npm run services:up`).
// Connector integration tests use these, never mocks.
import { join } from 'node:path';

export const servicesDir = process.env.FERRY_SERVICES_DIR ?? '/tmp/ferry-services';

export const testServices = {
  postgres: { host: '127.0.0.1', port: 55432, user: 'ferry', password: 'ferry', database: 'ferry' },
  mariadb: { host: '127.0.0.1', port: 53306, user: 'ferry', password: 'ferry', database: 'ferry' },
  sftp: {
    host: '127.0.0.1',
    port: 52222,
    username: 'ferrysftp',
    privateKeyPath: join(servicesDir, 'sshd', 'client_ed25519'),
    knownHostsPath: join(servicesDir, 'sshd', 'known_hosts'),
    rootDir: join(servicesDir, 'sshd', 'sftp-root'),
    uploadDir: '/upload',
  },
  kafka: { brokers: ['127.0.0.1:59092'] },
} as const;

/** Unique names per test (tables, topics, folders), so tests never see each other's data. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
