// kvd: starts one member with etcd's flags, stops cleanly on SIGTERM/SIGINT.
import { createRequire } from 'node:module';
import { ConfigError, createLogger, DataDirError, EtcdApiVersion, initFailpoints, KvServer } from '@kv/server';
import { parseFlags } from './flags.js';

const pkg = createRequire(import.meta.url)('../package.json') as { version: string };

export async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseFlags(argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`kvd: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(parsed.text);
    return;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`kvd Version: ${pkg.version}\netcd API Version: ${EtcdApiVersion}\nNode Version: ${process.version}\n`);
    return;
  }
  const { config, logging, notices } = parsed;
  // Everything kvd creates is private to its user, as etcd's data dir is (0700 directories, 0600
  // files): LevelDB creates its files with the umask, and so do snapshot and WAL directories.
  process.umask(0o077);
  let logger;
  try {
    logger = createLogger(config.logLevel, 'kvd', logging.outputs);
  } catch (err) {
    process.stderr.write(`kvd: cannot open log output: ${(err as Error).message}\n`);
    process.exit(2);
  }
  // Each once, now that there is a logger: variables used, flags without effect, deprecations.
  for (const n of notices) logger[n.level](n.fields ?? {}, n.msg);
  try {
    const armed = initFailpoints(process.env); // test builds only: needs KVD_TEST_HOOKS=1
    if (armed.length > 0) logger.warn({ failpoints: process.env.KVD_FAILPOINTS }, 'failpoints armed (KVD_TEST_HOOKS)');
    logger.flush(); // a failpoint's panic loses what is still buffered
  } catch (err) {
    process.stderr.write(`kvd: ${(err as Error).message}\n`);
    process.exit(2);
  }
  let server: KvServer;
  try {
    server = await KvServer.start({
      config,
      logger,
      kvVersion: pkg.version,
      onFatal: (err) => {
        logger.fatal({ err }, 'fatal error; exiting');
        logger.flush();
        process.exit(1);
      },
    });
  } catch (err) {
    const msg = err instanceof DataDirError || err instanceof ConfigError ? err.message : String((err as Error)?.stack ?? err);
    logger.fatal({ err: msg }, 'failed to start');
    logger.flush();
    process.stderr.write(`kvd: ${(err as Error).message ?? err}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'received signal; shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    server.stop().then(
      () => {
        logger.flush();
        process.exit(0);
      },
      (err) => {
        logger.error({ err }, 'error during shutdown');
        logger.flush();
        process.exit(1);
      },
    );
  };
  if (process.env.KVD_TEST_HOOKS === '1') {
    // Fault injection for tests only: SIGUSR2 cuts this member off from its peers, and back.
    process.on('SIGUSR2', () => server.setPeerIsolation(!server.peerIsolated));
  }
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
