// Connection details of the real services that test/services/up.sh runs on 127.0.0.1. They live in
// @ferry/testkit, so connector authors reach the same services; this module keeps the harness's own path.
export {
  type KafkaEndpoint,
  type SftpEndpoint,
  type SoapEndpoint,
  type SqlEndpoint,
  serviceLogs,
  services,
  servicesDir,
} from '@ferry/testkit';
