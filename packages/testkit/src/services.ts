// Connection details of the real services that test/services/up.sh runs on 127.0.0.1.
// Every integration test takes its endpoints from here (test/services/endpoints.ts re-exports them) rather than repeating ports and passwords.
// No side effects at import time beyond reading the environment: nothing is connected, read or started.
import { join } from 'node:path';

/** Root of the services' state (data dirs, keys, logs); the same default as test/services/lib/common.sh. */
export const servicesDir: string = process.env.FERRY_SERVICES_DIR || '/tmp/ferry-services';

/** Where each service logs (for error messages: "see <file>"). */
export const serviceLogs = {
  postgres: join(servicesDir, 'logs', 'postgres.log'),
  mariadb: join(servicesDir, 'logs', 'mariadb.log'),
  sshd: join(servicesDir, 'logs', 'sshd.log'),
  kafka: join(servicesDir, 'logs', 'kafka.log'),
  spyne: join(servicesDir, 'logs', 'spyne.log'),
} as const;

export interface SqlEndpoint {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** The same as a URL, e.g. for a connection-string option. */
  readonly url: string;
}

export interface SftpEndpoint {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  /** OpenSSH-format ed25519 private key (no passphrase) authorised for `username`. */
  readonly privateKeyPath: string;
  /** known_hosts with the server's ed25519 and rsa host keys for `[127.0.0.1]:52222`. */
  readonly knownHostsPath: string;
  /** The server's public host keys (OpenSSH .pub format), one file per key type. */
  readonly hostPublicKeyPaths: readonly string[];
  /** The chroot on disk (root-owned); what the SFTP client sees as `/`. */
  readonly rootDir: string;
  /** Writable directory as the SFTP client sees it (on disk: `rootDir + uploadDir`). */
  readonly uploadDir: string;
}

export interface SoapEndpoint {
  /** SOAP 1.1 endpoint; its WSDL is at `${soap11}?wsdl`. */
  readonly soap11: string;
  /** SOAP 1.2 endpoint; its WSDL is at `${soap12}?wsdl`. */
  readonly soap12: string;
  /** POST JSON here to seed cases, switch faults or flakiness (packages/soap/test/servers/spyne_cases.py). */
  readonly control: string;
}

export interface KafkaEndpoint {
  readonly brokers: readonly string[];
  /** Topics are never auto-created: create them with the admin client. */
  readonly autoCreateTopics: false;
}

const sshdDir = join(servicesDir, 'sshd');

export const services: {
  readonly postgres: SqlEndpoint;
  readonly mariadb: SqlEndpoint;
  readonly sftp: SftpEndpoint;
  readonly kafka: KafkaEndpoint;
  readonly spyne: SoapEndpoint;
} = {
  postgres: {
    host: '127.0.0.1',
    port: 55432,
    user: 'ferry',
    password: 'ferry',
    database: 'ferry',
    url: 'postgres://ferry:ferry@127.0.0.1:55432/ferry',
  },
  mariadb: {
    host: '127.0.0.1',
    port: 53306,
    user: 'ferry',
    password: 'ferry',
    database: 'ferry',
    url: 'mysql://ferry:ferry@127.0.0.1:53306/ferry',
  },
  sftp: {
    host: '127.0.0.1',
    port: 52222,
    username: 'ferrysftp',
    privateKeyPath: join(sshdDir, 'client_ed25519'),
    knownHostsPath: join(sshdDir, 'known_hosts'),
    hostPublicKeyPaths: [join(sshdDir, 'ssh_host_ed25519_key.pub'), join(sshdDir, 'ssh_host_rsa_key.pub')],
    rootDir: join(sshdDir, 'sftp-root'),
    uploadDir: '/upload',
  },
  kafka: {
    brokers: ['127.0.0.1:59092'],
    autoCreateTopics: false,
  },
  spyne: {
    soap11: 'http://127.0.0.1:58080/soap11',
    soap12: 'http://127.0.0.1:58080/soap12',
    control: 'http://127.0.0.1:58080/control',
  },
};

/** Unique names per test (tables, topics, folders), so tests never see each other's data. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
