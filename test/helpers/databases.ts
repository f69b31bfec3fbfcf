import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

/**
 * The databases every integration test runs on. SQLite always runs. PostgreSQL runs against
 * TEST_POSTGRES_URL (default: the local server's `test` database); each test file gets a database of
 * its own, created here and dropped afterwards, so files can run in parallel.
 *
 * Where PostgreSQL cannot be reached, its tests are reported as skipped, except under CI=true, where
 * that is an error: CI must prove both dialects.
 */
export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

export interface DatabaseKind {
  name: 'sqlite' | 'postgres';
  /** Why this kind's tests are skipped, or false to run them. */
  skip: string | false;
  create(): Promise<TestDatabase>;
}

async function probePostgres(): Promise<string | false> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return false;
  } catch (error) {
    const reason = `PostgreSQL at ${TEST_POSTGRES_URL} is not reachable (${(error as Error).message})`;
    if (process.env.CI === 'true') {
      throw new Error(`${reason}; CI runs every test on PostgreSQL too`);
    }
    return reason;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const postgresSkip = await probePostgres();

export const sqlite: DatabaseKind = {
  name: 'sqlite',
  skip: false,
  create: async () => {
    const directory = mkdtempSync(path.join(tmpdir(), 'envision-db-'));
    return {
      url: path.join(directory, 'test.sqlite'),
      drop: async () => rmSync(directory, { recursive: true, force: true }),
    };
  },
};

export const postgres: DatabaseKind = {
  name: 'postgres',
  skip: postgresSkip,
  create: async () => {
    const name = `envision_test_${randomBytes(6).toString('hex')}`;
    await adminQuery(`create database ${name}`);
    const url = new URL(TEST_POSTGRES_URL);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      drop: async () => {
        await waitForDisconnects(name);
        await adminQuery(`drop database if exists ${name} with (force)`);
      },
    };
  },
};

export const DATABASE_KINDS: DatabaseKind[] = [sqlite, postgres];

/**
 * Waits up to two seconds for the test's own connections to close. pg-pool 3 resolves `end()` before its
 * clients' sockets have closed, and a forced drop would then end those backends under a client that has
 * no error listener left, which crashes the test process.
 */
async function waitForDisconnects(database: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    for (let attempt = 0; attempt < 40; attempt += 1) {
      const result = await client.query('select count(*)::int as count from pg_stat_activity where datname = $1', [database]);
      if (result.rows[0].count === 0) {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await client.end();
  }
}

async function adminQuery(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
