import { parseArgs } from 'node:util';
import { builtinComponents } from './components.js';
import type { Signal } from './component/component.js';
import { supportedSignals } from './component/factory.js';
import { ConfigError, ConfigFileError, formatIssue } from './config/errors.js';
import { loadConfigFile } from './config/load.js';
import type { ServiceConfig } from './config/resolve.js';
import { resolveConfig } from './config/resolve.js';
import type { Components } from './service/registry.js';
import { createLogger } from './service/logger.js';
import { Service, StartError } from './service/service.js';
import { VERSION } from './version.js';

const HELP = `sonde ${VERSION}: eBPF observability agent (OpenTelemetry Collector-style pipeline)

Usage:
  sonde run [--config FILE]        run the agent (default config: ./otel-config.yaml)
  sonde validate --config FILE     check a config; prints every error with its path and line
  sonde components                 list component types, their signals and stability
  sonde --version | --help

Signals: SIGINT/SIGTERM shut down gracefully (buffered data is drained); a second signal exits at once.
`;

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

const defaultIo: CliIo = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  env: process.env,
};

/** Loads and validates a config file; throws ConfigFileError / ConfigError. */
export function loadServiceConfig(file: string, components: Components, env: NodeJS.ProcessEnv = process.env): { config: ServiceConfig; warnings: string[] } {
  const loaded = loadConfigFile(file, env);
  const { config, issues } = resolveConfig(loaded, components);
  if (!config) throw new ConfigError(file, issues);
  return { config, warnings: loaded.warnings.map((w) => formatIssue({ ...w, line: loaded.lineOf(w.path) })) };
}

function reportConfigError(e: unknown, io: CliIo): number {
  if (e instanceof ConfigError) {
    io.err(`${e.file}: ${e.issues.length} error(s):\n${e.issues.map((i) => `  ${formatIssue(i)}`).join('\n')}\n`);
    return 1;
  }
  if (e instanceof ConfigFileError) {
    io.err(`${e.message}\n`);
    return 1;
  }
  throw e;
}

function listComponents(components: Components, io: CliIo): number {
  const rows: string[] = [];
  for (const kind of ['receivers', 'processors', 'exporters'] as const) {
    rows.push(`${kind}:`);
    for (const f of components[kind].values()) {
      const sigs = supportedSignals(f).map((s: Signal) => `${s}:${f.stability[s] ?? 'development'}`).join(' ');
      rows.push(`  ${f.type.padEnd(24)} ${sigs.padEnd(44)} ${f.description}`);
    }
  }
  rows.push('extensions:');
  for (const f of components.extensions.values()) rows.push(`  ${f.type.padEnd(24)} ${f.stability.padEnd(44)} ${f.description}`);
  io.out(`${rows.join('\n')}\n`);
  return 0;
}

async function run(file: string, components: Components, io: CliIo): Promise<number> {
  let loaded: { config: ServiceConfig; warnings: string[] };
  try {
    loaded = loadServiceConfig(file, components, io.env);
  } catch (e) {
    return reportConfigError(e, io);
  }
  const { config } = loaded;
  const logger = createLogger({ level: config.telemetry.logs.level, encoding: config.telemetry.logs.encoding });
  for (const w of loaded.warnings) logger.warn(w);

  let exitCode = 0;
  let stopping: Promise<void> | undefined;
  let markStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (markStopped = resolve));
  const service = new Service(config, {
    logger,
    onFatal: () => {
      exitCode = 1;
      void stop('fatal error');
    },
  });
  const stop = (why: string): Promise<void> => {
    stopping ??= (async () => {
      logger.info('shutting down', { reason: why });
      try {
        await service.shutdown();
      } catch (e) {
        logger.error('shutdown finished with errors', { error: (e as Error).message });
        exitCode = exitCode || 1;
      }
      markStopped();
    })();
    return stopping;
  };
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn('second signal: exiting without draining', { signal: sig });
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
    void stop(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    await service.start();
  } catch (e) {
    const err = e as Error;
    const cause = err instanceof StartError && err.cause instanceof Error ? err.cause : undefined;
    const remedy = typeof (cause as { remedy?: unknown } | undefined)?.remedy === 'string' ? (cause as unknown as { remedy: string }).remedy : undefined;
    logger.error(err.message);
    io.err(formatStartError(err, cause, remedy));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return 1;
  }
  // Runs until a signal or a fatal component error starts the shutdown.
  await stopped;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  logger.info('sonde stopped');
  return exitCode;
}

/**
 * A failed start, for people: which component, the typed error (PermissionError, NotSupportedError,
 * VerifierError…) and, when the error carries one, what to do about it, each on its own line.
 */
export function formatStartError(err: Error, cause: Error | undefined, remedy: string | undefined): string {
  const component = err instanceof StartError ? err.component : 'sonde';
  let detail = cause?.message ?? err.message;
  if (remedy && detail.endsWith(`; ${remedy}`)) detail = detail.slice(0, -remedy.length - 2);
  const lines = [`sonde: ${component} failed to start`, `  ${cause?.name ?? err.name}: ${detail}`];
  if (remedy) lines.push(`  remedy: ${remedy}`);
  const log = (cause as { verifierLog?: unknown } | undefined)?.verifierLog;
  if (typeof log === 'string' && log) lines.push('  verifier log (last lines):', ...log.trimEnd().split('\n').slice(-20).map((l) => `    ${l}`));
  return `${lines.join('\n')}\n`;
}

/** The CLI; returns the process exit code. */
export async function main(argv: string[], io: CliIo = defaultIo, components: Components = builtinComponents()): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (e) {
    io.err(`${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    io.out(`sonde ${VERSION}\n`);
    return 0;
  }
  const cmd = positionals[0];
  if (values.help || cmd === 'help' || cmd === undefined) {
    io.out(HELP);
    return cmd === undefined && !values.help ? 2 : 0;
  }
  switch (cmd) {
    case 'run':
      return run(values.config ?? 'otel-config.yaml', components, io);
    case 'validate': {
      if (!values.config) {
        io.err('validate needs --config FILE\n');
        return 2;
      }
      try {
        const { config, warnings } = loadServiceConfig(values.config, components, io.env);
        for (const w of warnings) io.err(`warning: ${w}\n`);
        io.out(`${values.config}: valid (${config.pipelines.length} pipeline(s): ${config.pipelines.map((p) => p.id).join(', ')})\n`);
        return 0;
      } catch (e) {
        return reportConfigError(e, io);
      }
    }
    case 'components':
      return listComponents(components, io);
    default:
      io.err(`unknown command "${cmd}"\n\n${HELP}`);
      return 2;
  }
}
