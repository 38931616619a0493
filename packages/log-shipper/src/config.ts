// The shipper's options (env, flags, YAML) and its two pipeline formats: a Fluent Bit classic
// fluent-bit.conf (the seed's ConfigMap, read unchanged) or the same pipeline in our YAML/JSON
// file under service / pipeline / parsers. [SERVICE] keys that the runtime owns (Log_Level, Grace,
// HTTP_Listen, HTTP_Port) become a config layer, so env vars and flags still override them.

import { existsSync } from 'node:fs'
import { type ConfigIssue, type ConfigLayer, commonOptions, Duration, Options, Type } from '@podkit/runtime'
import type { Static } from '@sinclair/typebox'
import { PipelineConfigError } from './errors.ts'
import { type PipelineSpec, pipelineFromClassic, pipelineFromObject } from './fluent-bit/pipeline-spec.ts'

export const ENV_PREFIX = 'LOG_SHIPPER_'
export const DEFAULT_FLUENT_BIT_CONFIG = '/fluent-bit/etc/fluent-bit.conf'

const pluginList = (what: string) =>
  Type.Array(Type.Record(Type.String(), Type.Unknown()), {
    default: [],
    env: false,
    flag: false,
    description: `${what}, each a mapping of Fluent Bit keys (name, match, ...) to values; a list value repeats the key.`,
  })

export const schema = Options({
  ...commonOptions({ adminPort: 2020, grace: 5000 }),
  fluentBitConfig: Type.String({
    default: '',
    env: 'FLUENT_BIT_CONFIG',
    description: `A Fluent Bit classic config (fluent-bit.conf) to run. When empty, ${DEFAULT_FLUENT_BIT_CONFIG} is used if it exists and the YAML config has no pipeline. Also set by \`-c file.conf\`.`,
  }),
  hostAliases: Type.Record(Type.String(), Type.String(), {
    default: {},
    description:
      'Rewrites output hosts, as JSON: {"fluentd.logging.svc.cluster.local": "127.0.0.1:24224"}; a key may be host or host:port. For local runs and tests of a ConfigMap that names cluster hosts.',
  }),
  pathPrefix: Type.String({
    default: '',
    description:
      'Prepended to every absolute input Path and DB file (tags are still expanded from the path as written), to run a ConfigMap against a directory elsewhere.',
  }),
  retry: Options({
    base: Duration({
      default: 5000,
      description:
        'First retry wait of a failed chunk, doubled per retry (scheduler.base in [SERVICE] overrides it).',
    }),
    cap: Duration({
      default: 2_000_000,
      description: 'Longest retry wait (scheduler.cap in [SERVICE] overrides it).',
    }),
  }),
  service: Type.Record(Type.String(), Type.Unknown(), {
    default: {},
    env: false,
    flag: false,
    description:
      'YAML pipeline: Fluent Bit [SERVICE] keys (flush, parsers_file, storage.path, scheduler.base, ...).',
  }),
  pipeline: Options({
    inputs: pluginList('YAML pipeline: inputs ([INPUT] sections)'),
    filters: pluginList('YAML pipeline: filters ([FILTER] sections)'),
    outputs: pluginList('YAML pipeline: outputs ([OUTPUT] sections)'),
  }),
  parsers: pluginList('YAML pipeline: parsers ([PARSER] sections)'),
  multilineParsers: pluginList('YAML pipeline: multiline parsers ([MULTILINE_PARSER] sections)'),
})

export type ShipperConfig = Static<typeof schema>

/** Where the pipeline comes from, decided before the options are loaded. */
export interface PreparedPipeline {
  classic: PipelineSpec | undefined
}

/**
 * Finds and reads the classic config (flag, env, `-c x.conf` as Fluent Bit takes it, or the image's
 * default path) and turns its runtime-owned [SERVICE] keys into a layer. Throws with file and line.
 */
export function prepareClassic(
  argv: readonly string[],
  env: Record<string, string | undefined>,
): { argv: string[]; layers: ConfigLayer[]; classic: PipelineSpec | undefined } {
  const out: string[] = []
  let path: string | undefined
  let yamlGiven = Boolean(env.CONFIG_FILE)
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const m = /^(?:-c|--config|--fluent-bit-config)(?:=(.*))?$/.exec(a)
    if (m) {
      const value = m[1] ?? argv[i + 1]
      if (m[1] === undefined) i++
      if (value !== undefined && (a.startsWith('--fluent-bit-config') || /\.conf$/i.test(value))) path = value
      else {
        yamlGiven = true
        out.push('--config', value ?? '')
      }
      continue
    }
    out.push(a)
  }
  path ??=
    env.FLUENT_BIT_CONFIG ||
    (!yamlGiven && existsSync(DEFAULT_FLUENT_BIT_CONFIG) ? DEFAULT_FLUENT_BIT_CONFIG : undefined)
  if (!path) return { argv: out, layers: [], classic: undefined }
  const classic = pipelineFromClassic(path, env)
  const values: Record<string, unknown> = { fluentBitConfig: path }
  const s = classic.service
  if (s.logLevel) values.logLevel = s.logLevel
  if (s.graceMs !== undefined) values.shutdown = { grace: s.graceMs }
  if (s.httpPort !== undefined || s.httpListen)
    values.admin = {
      ...(s.httpPort !== undefined ? { port: s.httpPort } : {}),
      ...(s.httpListen ? { host: s.httpListen } : {}),
    }
  return { argv: out, layers: [{ source: `fluent-bit config ${path}`, values }], classic }
}

/** The pipeline of a loaded config: the classic one, or the YAML one. Throws PodkitError on problems. */
export function resolvePipeline(
  config: ShipperConfig,
  classic: PipelineSpec | undefined,
  source: string,
): PipelineSpec {
  const yamlHasPipeline =
    config.pipeline.inputs.length +
      config.pipeline.filters.length +
      config.pipeline.outputs.length +
      config.parsers.length >
    0
  if (classic) {
    if (yamlHasPipeline)
      throw new PipelineConfigError(
        `both a Fluent Bit config (${config.fluentBitConfig}) and a YAML pipeline are given; use one`,
      )
    return classic
  }
  for (const k of ['log_level', 'grace', 'http_listen', 'http_port', 'http_server', 'daemon']) {
    if (Object.keys(config.service).some((x) => x.toLowerCase() === k))
      throw new PipelineConfigError(
        `${source} service.${k}: set it with logLevel, shutdown.grace or admin.* in the YAML config instead`,
      )
  }
  if (config.pipeline.inputs.length === 0)
    throw new PipelineConfigError(
      `no pipeline to run: mount a Fluent Bit config at ${DEFAULT_FLUENT_BIT_CONFIG}, pass -c fluent-bit.conf or FLUENT_BIT_CONFIG, or give pipeline.inputs in a YAML config (--config)`,
    )
  return pipelineFromObject(
    {
      service: config.service,
      pipeline: config.pipeline,
      parsers: config.parsers,
      multilineParsers: config.multilineParsers,
    },
    source,
  )
}

/** Turns a pipeline problem into the runtime's one-message config error. */
export function issueOf(err: unknown): ConfigIssue {
  const msg = (err as Error).message
  return { key: 'pipeline', expected: 'a pipeline this shipper supports', got: msg }
}
