import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import { migrationProvider } from './migrations/index.js';

export type DatabaseDialect = 'sqlite' | 'postgres';

export interface DatabaseConnection {
  db: Kysely<Database>;
  dialect: DatabaseDialect;
  /** Runs a trivial query; rejects when the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

// PostgreSQL returns int8 (`bigint`) columns as strings. Every bigint here is epoch milliseconds or a seed,
// far below 2^53, so numbers are exact.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export function databaseDialectOf(url: string): DatabaseDialect {
  return /^postgres(ql)?:\/\//i.test(url) ? 'postgres' : 'sqlite';
}

/**
 * Opens the database named by `url`: a `postgres://` URL, or else a SQLite file path (`sqlite:` prefix
 * optional, `:memory:` allowed).
 */
export function openDatabase(url: string, options: { maxConnections?: number } = {}): DatabaseConnection {
  if (databaseDialectOf(url) === 'postgres') {
    const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 10 });
    // pg-pool emits 'error' when an idle client's connection drops (a server restart, or DROP DATABASE
    // … WITH (FORCE) while the pool is closing). It has already discarded that client, and the next query
    // opens a new one; without a listener the event would crash the process.
    pool.on('error', () => undefined);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    // pg-pool's end() resolves as soon as it has called end() on its clients, before their sockets close.
    // close() waits for every 'remove' (emitted when a client has ended), so a database dropped right
    // after close() cannot terminate a client that is still connected.
    let connectedClients = 0;
    let onAllRemoved: (() => void) | undefined;
    pool.on('connect', () => {
      connectedClients += 1;
    });
    pool.on('remove', () => {
      connectedClients -= 1;
      if (connectedClients === 0) {
        onAllRemoved?.();
      }
    });
    return {
      db,
      dialect: 'postgres',
      ping: async () => {
        await sql`select 1`.execute(db);
      },
      close: async () => {
        const allRemoved = new Promise<void>((resolve) => {
          onAllRemoved = resolve;
        });
        await db.destroy();
        if (connectedClients > 0) {
          await allRemoved;
        }
      },
    };
  }

  const filename = url.replace(/^sqlite:/i, '');
  if (filename !== ':memory:') {
    mkdirSync(path.dirname(path.resolve(filename)), { recursive: true });
  }
  const sqlite = new SQLite(filename);
  // WAL lets readers run beside the single writer; busy_timeout makes concurrent writers from other
  // processes wait for the lock instead of failing at once with SQLITE_BUSY.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  return {
    db,
    dialect: 'sqlite',
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
  };
}

/** Applies every pending migration. Safe to run from several processes: applied ones are skipped. */
export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error');
    throw new Error(`Migration ${failed?.migrationName ?? '(unknown)'} failed: ${String(error)}`, { cause: error });
  }
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
}

/** True for a unique or primary-key violation on either dialect. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
