// The entity store on the real PostgreSQL (loopback), in a schema of the test's own, dropped afterwards.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { services } from '../../../../test/services/endpoints.js';
import { describeStore } from '../store-suite.js';

const { host, port, user, password, database } = services.postgres;
const schema = `ferry_api_${randomBytes(4).toString('hex')}`;

describeStore(
  'PostgreSQL',
  () => ({ type: 'postgres', host, port, username: user, password, database, schema }),
  async () => {
    const client = new pg.Client({ host, port, user, password, database });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } finally {
      await client.end();
    }
  },
);
