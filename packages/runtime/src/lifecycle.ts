// The process frame of every podkit service: load config, log JSON, serve the admin endpoints,
// start the service, and on SIGTERM turn /ready to 503, drain within the grace period, flush and
// exit 0. A second signal exits at once. SIGHUP calls the service's reload hook.

import type { Static, TObject } from '@sinclair/typebox'
import type { AdminApp } from './admin-app.ts'
import { type AdminServer, startAdminServer } from './admin-server.ts'
import { isoTime } from './clock.ts'
import { type ConfigLayer, loadConfig, loadYamlParser } from './config.ts'
import { ConfigError, type ConfigIssue, PodkitError } from './errors.ts'
import { renderHelp } from './help.ts'
import { createLogger, drainLogger, flushLogger, LOG_LEVELS, type Logger, type LogLevel } from './logger.ts'
import { createServiceRegistry, type Registry } from './metrics.ts'
import { Duration, Options } from './schema.ts'
import { Type } from './types.ts'

/** Options every service shares; spread into the service's schema with its own admin port. */
export function commonOptions(defaults: { adminPort: number; adminHost?: string; grace?: number }) {
  return {
    logLevel: Type.Union(
      LOG_LEVELS.map((l) => Type.Literal(l)),
      {
        default: 'info',
        env: 'LOG_LEVEL',
        flag: 'log-level',
        description: 'Log level of the JSON logs on stdout.',
      },
    ),
    admin: Options({
      host: Type.String({
        default: defaults.adminHost ?? '0.0.0.0',
        env: 'ADMIN_HOST',
        description: 'Address the admin server (/healthz, /ready, /metrics) listens on.',
      }),
      port: Type.Integer({
        default: defaults.adminPort,
        minimum: 0,
        maximum: 65535,
        env: 'ADMIN_PORT',
        description: 'Port of the admin server; 0 picks a free port.',
      }),
    }),
    shutdown: Options({
      grace: Duration({
        default: defaults.grace ?? 20_000,
        env: 'SHUTDOWN_GRACE',
        description:
          "How long a SIGTERM drain may take before in-flight work is cut; keep it below the pod's terminationGracePeriodSeconds.",
      }),
    }),
  }
}

export interface CommonConfig {
  logLevel: LogLevel
  admin: { host: string; port: number }
  shutdown: { grace: number }
}

export interface ServiceContext<C> {
  config: C
  logger: Logger
  registry: Registry
  /** Config layers and sources as loaded, for services that reload. */
  sources: Record<string, string>
}

export interface StopContext {
  /** Aborted when the grace period runs out: cut what is still in flight. */
  signal: AbortSignal
  /** Epoch milliseconds by which draining must be done. */
  deadline: number
}

export interface RunningService {
  /** Stop taking new work, finish what is in flight, flush. */
  stop(ctx: StopContext): Promise<void>
  /** Re-read config on SIGHUP. */
  reload?(): Promise<void>
  /** An extra readiness check (e.g. upstream reachable); a string is the reason it is not ready. */
  ready?(): true | string
}

export interface ServiceDefinition<S extends TObject> {
  name: string
  version?: string
  summary?: string
  schema: S
  envPrefix?: string
  helpExtra?: string
  /**
   * Turns compatibility inputs (an exporter's single-dash flags, fluent-bit.conf, pgbouncer.ini,
   * envoy.yaml) into our flags and config layers. May throw ConfigError.
   */
  prepare?(
    argv: readonly string[],
    env: Record<string, string | undefined>,
  ): { argv?: string[]; layers?: ConfigLayer[] }
  /** Checks across options that the schema cannot express. */
  validate?(config: Static<S>): ConfigIssue[]
  start(ctx: ServiceContext<Static<S>>): Promise<RunningService>
  admin?: {
    metricsPath?(config: Static<S>): string
    routes?(app: AdminApp, ctx: ServiceContext<Static<S>>, control: ServiceControl): void | Promise<void>
  }
}

/** What admin routes may do to the running process. */
export interface ServiceControl {
  state(): ServiceState
  /** Starts the same drain as SIGTERM. */
  drain(reason: string): void
}

export type ServiceState = 'starting' | 'ready' | 'draining' | 'stopped'

export interface RunOptions {
  argv?: readonly string[]
  env?: Record<string, string | undefined>
  exit?: (code: number) => void
  stdout?: (text: string) => void
  stderr?: (text: string) => void
}

const SIGNAL_EXIT: Record<string, number> = { SIGTERM: 143, SIGINT: 130 }

export async function runService<S extends TObject>(
  def: ServiceDefinition<S>,
  run: RunOptions = {},
): Promise<void> {
  const env = run.env ?? process.env
  const exit = run.exit ?? ((code: number) => process.exit(code))
  const stdout = run.stdout ?? ((t: string) => process.stdout.write(t))
  const stderr = run.stderr ?? ((t: string) => process.stderr.write(t))
  let argv = [...(run.argv ?? process.argv.slice(2))]
  const version = def.version ?? process.env.PODKIT_VERSION ?? 'dev'

  let loaded: ReturnType<typeof loadConfig<S>>
  try {
    if (argv.includes('--help') || argv.includes('-h')) {
      stdout(
        renderHelp(def.schema, {
          name: `podkit-${def.name}`,
          summary: def.summary,
          envPrefix: def.envPrefix,
          extra: def.helpExtra,
        }),
      )
      return exit(0)
    }
    const prepared = def.prepare?.(argv, env) ?? {}
    argv = prepared.argv ?? argv
    if (env.CONFIG_FILE || argv.some((a) => a === '--config' || a.startsWith('--config=')))
      await loadYamlParser()
    loaded = loadConfig({ schema: def.schema, argv, env, envPrefix: def.envPrefix, layers: prepared.layers })
    const extra = def.validate?.(loaded.config) ?? []
    if (extra.length > 0) throw new ConfigError(extra)
  } catch (err) {
    if (err instanceof PodkitError) {
      stdout(
        `${JSON.stringify({ level: 'fatal', time: isoTime(Date.now()), service: def.name, code: err.code, msg: err.message })}\n`,
      )
      stderr(`${err.message}\n`)
      return exit(2)
    }
    throw err
  }
  if (loaded.action === 'check') {
    stdout(`configuration is valid\n`)
    return exit(0)
  }

  const config = loaded.config as Static<S> & CommonConfig
  const logger = createLogger({ name: def.name, level: config.logLevel, version })
  const { registry, readyGauge } = createServiceRegistry({ service: def.name, version })
  const ctx: ServiceContext<Static<S>> = { config, logger, registry, sources: loaded.sources }

  let state: ServiceState = 'starting'
  let service: RunningService | undefined
  let admin: AdminServer | undefined
  let draining: Promise<void> | undefined

  const die = (err: unknown, msg: string) => {
    logger.fatal({ err }, msg)
    flushLogger(logger)
    exit(1)
  }
  process.on('uncaughtException', (err) => die(err, 'An uncaught exception stopped the service.'))
  process.on('unhandledRejection', (err) => die(err, 'An unhandled promise rejection stopped the service.'))

  const drain = (reason: string): Promise<void> => {
    if (draining) return draining
    state = 'draining'
    readyGauge.set(0)
    const grace = config.shutdown.grace
    logger.info({ reason, graceMs: grace }, 'Draining: not ready, no new work, finishing what is in flight.')
    const ac = new AbortController()
    const started = Date.now()
    const cut = setTimeout(() => {
      logger.warn({ graceMs: grace }, 'The grace period ran out; cutting the work still in flight.')
      ac.abort()
    }, grace)
    // If the service does not return after being cut, do not hang the pod's shutdown.
    const hard = setTimeout(() => {
      logger.error('The service did not stop after its grace period; exiting.')
      flushLogger(logger)
      exit(1)
    }, grace + 5000)
    hard.unref()
    draining = (async () => {
      try {
        await service?.stop({ signal: ac.signal, deadline: started + grace })
      } catch (err) {
        logger.error({ err }, 'The service failed while draining.')
      }
      clearTimeout(cut)
      await admin?.close().catch(() => {})
      state = 'stopped'
      logger.info({ tookMs: Date.now() - started }, 'Drained; exiting.')
      await drainLogger(logger)
      clearTimeout(hard)
      exit(0)
    })()
    return draining
  }

  const onSignal = (signal: NodeJS.Signals) => {
    if (state === 'draining' || state === 'stopped') {
      logger.warn({ signal }, 'Second signal during drain: exiting at once.')
      flushLogger(logger)
      exit(SIGNAL_EXIT[signal] ?? 1)
      return
    }
    void drain(signal)
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  process.on('SIGHUP', () => {
    if (!service?.reload) {
      logger.info('SIGHUP received; this service has nothing to reload.')
      return
    }
    logger.info('SIGHUP received; reloading configuration.')
    service.reload().then(
      () => logger.info('Configuration reloaded.'),
      (err) => logger.error({ err }, 'Reload failed; the previous configuration stays in force.'),
    )
  })

  const control: ServiceControl = { state: () => state, drain: (reason) => void drain(reason) }
  try {
    admin = await startAdminServer({
      host: config.admin.host,
      port: config.admin.port,
      registry,
      metricsPath: def.admin?.metricsPath?.(config),
      isReady: () => state === 'ready' && (service?.ready?.() ?? true) === true,
      readyDetail: () => (state === 'ready' ? String(service?.ready?.() ?? 'not ready') : state),
      routes: def.admin?.routes ? (app) => def.admin!.routes!(app, ctx, control) : undefined,
    })
    logger.info({ admin: `${admin.address.host}:${admin.address.port}` }, 'Admin server listening.')
    service = await def.start(ctx)
  } catch (err) {
    return die(err, 'The service could not start.')
  }
  if (state === 'starting') {
    state = 'ready'
    readyGauge.set(1)
    logger.info('Ready.')
  }
}
