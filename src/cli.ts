#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { ConfigError, loadConfig } from './config/config.js';
import { listDeadLetters } from './start/dead-letters.js';
import { runMigrations, serveApi, serveWorkers } from './start/server.js';
import { runPacksCommand } from './start/packs-command.js';

const USAGE = `Usage: envision <command>

Commands:
  start      Serve the API and run generation workers (the default).
  serve      Serve the API only.
  worker     Run generation workers only (WORKER_CONCURRENCY tasks at once).
  migrate    Apply pending database migrations and exit.
  dead-letters [--limit N]
             List the generation tasks that failed for good in the Redis queue (REDIS_URL),
             newest first, N per engine (default 50), as JSON lines.
  packs      Import or export the pack catalog: envision packs import [--replace] FILE | export [FILE].

Configuration comes from environment variables and an optional .env file; see the README.`;

type Command = (args: string[]) => Promise<void>;

const COMMANDS: Record<string, Command> = {
  start: async () => serveApi(loadConfig(), { workers: true }),
  serve: async () => serveApi(loadConfig()),
  worker: async () => serveWorkers(loadConfig()),
  'dead-letters': async (args) => listDeadLetters(loadConfig(), args),
  migrate: async () => {
    const applied = await runMigrations(loadConfig());
    console.log(applied.length === 0 ? 'Database is up to date.' : `Applied migrations: ${applied.join(', ')}`);
  },
  packs: async (args) => {
    process.exitCode = await runPacksCommand(args, loadConfig());
  },
};

async function main(argv: string[]): Promise<void> {
  if (existsSync('.env')) {
    process.loadEnvFile('.env');
  }
  const [name = 'start', ...args] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    console.error(`Unknown command "${name}".\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  await command(args);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exitCode = 78; // EX_CONFIG from sysexits.h
    return;
  }
  console.error(error);
  process.exitCode = 1;
});
