// Turns a Fluent Bit classic config (with its Parsers_File) or our YAML/JSON pipeline into one
// checked PipelineSpec: every section's plugin and keys are supported, every problem is reported
// at once with its file and line (or YAML key).

import { isAbsolute, join } from 'node:path'
import { PipelineConfigError, UnsupportedPluginError } from '../errors.ts'
import { readClassicConfig } from './classic.ts'
import { NO_EFFECT_KEYS, pluginNames, supportedKeys } from './plugins.ts'
import { PluginSection } from './section.ts'

export interface ServiceSpec {
  /** Flush: how often buffered records are handed to the outputs (ms). */
  flushMs: number
  /** Grace: how long a SIGTERM flush may take (ms), when set. */
  graceMs: number | undefined
  /** Log_Level mapped to pino's names, when set. */
  logLevel: string | undefined
  httpListen: string | undefined
  httpPort: number | undefined
  /** storage.path: where filesystem buffering keeps chunks; undefined = memory only. */
  storagePath: string | undefined
  storageSync: 'normal' | 'full'
  /** scheduler.base / scheduler.cap: retry backoff (ms), when set. */
  schedulerBaseMs: number | undefined
  schedulerCapMs: number | undefined
  /**
   * Health_Check: /api/v1/health answers "error" (500) once the outputs failed more than
   * `errors` flushes, or gave up more than `retryFailures` chunks, within `periodMs`.
   */
  healthCheck: { errors: number; retryFailures: number; periodMs: number } | undefined
}

export interface PipelineSpec {
  service: ServiceSpec
  inputs: PluginSection[]
  filters: PluginSection[]
  outputs: PluginSection[]
  parsers: PluginSection[]
  multilineParsers: PluginSection[]
  /** Things worth a warning at start (unset ${VARS}, keys accepted without effect). */
  warnings: string[]
  /** Where the pipeline came from, for logs. */
  source: string
}

const LOG_LEVELS: Record<string, string> = {
  off: 'silent',
  error: 'error',
  warn: 'warn',
  warning: 'warn',
  info: 'info',
  debug: 'debug',
  trace: 'trace',
}

/** Reads fluent-bit.conf, its @INCLUDEs and Parsers_File(s). */
export function pipelineFromClassic(path: string, env: Record<string, string | undefined>): PipelineSpec {
  const main = readClassicConfig(path, { env })
  const baseDir = main.file.slice(0, main.file.lastIndexOf('/')) || '/'
  const sections = main.sections.map((s) => PluginSection.fromClassic(s))
  const warnings = main.unsetVariables.map(
    (u) => `${u.where}: \${${u.name}} is not set; Fluent Bit substitutes an empty string, and so do we`,
  )
  const errors: string[] = []
  for (const s of sections.filter((x) => x.kind === 'service')) {
    for (const p of s.all('parsers_file')) {
      const file = isAbsolute(p.value) ? p.value : join(baseDir, p.value)
      try {
        const parsers = readClassicConfig(file, { env, baseDir })
        for (const ps of parsers.sections) {
          if (ps.kind !== 'PARSER' && ps.kind !== 'MULTILINE_PARSER') {
            errors.push(
              `${ps.file}:${ps.line}: a Parsers_File may hold only [PARSER] and [MULTILINE_PARSER] sections`,
            )
            continue
          }
          sections.push(PluginSection.fromClassic(ps))
        }
        warnings.push(
          ...parsers.unsetVariables.map(
            (u) => `${u.where}: \${${u.name}} is not set; substituted an empty string`,
          ),
        )
      } catch (err) {
        errors.push(`${p.where}: Parsers_File ${(err as Error).message}`)
      }
    }
  }
  return build(sections, warnings, errors, main.file)
}

/** Our YAML/JSON format, shaped like Fluent Bit's YAML: service, pipeline.{inputs,filters,outputs}, parsers. */
export interface YamlPipeline {
  service?: Record<string, unknown>
  pipeline?: { inputs?: unknown[]; filters?: unknown[]; outputs?: unknown[] }
  parsers?: unknown[]
  multilineParsers?: unknown[]
}

export function pipelineFromObject(cfg: YamlPipeline, source: string, baseDir = process.cwd()): PipelineSpec {
  const sections: PluginSection[] = []
  const errors: string[] = []
  const at = (key: string) => `${source} ${key}`
  sections.push(PluginSection.fromObject('service', cfg.service ?? {}, at('service')))
  const lists: Array<[PluginSection['kind'], string, unknown[] | undefined]> = [
    ['input', 'pipeline.inputs', cfg.pipeline?.inputs],
    ['filter', 'pipeline.filters', cfg.pipeline?.filters],
    ['output', 'pipeline.outputs', cfg.pipeline?.outputs],
    ['parser', 'parsers', cfg.parsers],
    ['multiline_parser', 'multilineParsers', cfg.multilineParsers],
  ]
  for (const [kind, key, list] of lists) {
    for (const [i, item] of (list ?? []).entries()) {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        errors.push(`${at(`${key}[${i}]`)}: expected a mapping of keys to values`)
        continue
      }
      sections.push(PluginSection.fromObject(kind, item as Record<string, unknown>, at(`${key}[${i}]`)))
    }
  }
  // Parsers_File in a YAML service section reads classic parsers.conf files, as Fluent Bit's YAML does.
  for (const p of sections[0]!.all('parsers_file')) {
    try {
      const file = isAbsolute(p.value) ? p.value : join(baseDir, p.value)
      for (const ps of readClassicConfig(file).sections) sections.push(PluginSection.fromClassic(ps))
    } catch (err) {
      errors.push(`${p.where}: ${(err as Error).message}`)
    }
  }
  return build(sections, [], errors, source)
}

function build(
  sections: PluginSection[],
  warnings: string[],
  errors: string[],
  source: string,
): PipelineSpec {
  let unsupportedPlugin = false
  for (const s of sections) {
    if (s.kind !== 'service' && s.kind !== 'parser' && s.kind !== 'multiline_parser') {
      if (s.name === '') {
        errors.push(`${s.where}: [${s.kind.toUpperCase()}] needs a Name`)
        continue
      }
      if (!supportedKeys(s.kind, s.name)) {
        unsupportedPlugin = true
        errors.push(
          `${s.whereOf('name')}: ${s.kind} plugin "${s.name}" is not supported (supported: ${pluginNames(s.kind).join(', ')})`,
        )
        continue
      }
    }
    const keys = supportedKeys(s.kind, s.name)!
    for (const [k, props] of s.props) {
      if (!keys.includes(k) && !(keys.includes('parser_N') && /^parser_\d+$/.test(k)))
        errors.push(
          `${props[0]!.where}: key "${k}" is not supported by ${s.label()} (supported: ${keys.join(', ')})`,
        )
      else if (s.kind !== 'service' && NO_EFFECT_KEYS.includes(k) && !/^memory$/i.test(props[0]!.value))
        warnings.push(`${props[0]!.where}: ${k} is accepted for compatibility and has no effect here`)
    }
  }

  for (const s of sections) {
    let oldMultiline = false
    try {
      oldMultiline = s.kind === 'input' && s.bool('multiline', false)
    } catch {
      // a bad value is reported where the input is built
    }
    if (oldMultiline && s.str('parser'))
      warnings.push(
        `${s.whereOf('multiline')}: Multiline On is not applied when Parser is set (Fluent Bit's tail parses each line with Parser then); use Parser_Firstline alone`,
      )
    if (s.kind === 'input' && s.str('parser') && s.str('multiline.parser'))
      warnings.push(
        `${s.whereOf('parser')}: Parser is not applied when multiline.parser is set (as in Fluent Bit); parse the joined record with a parser filter`,
      )
  }

  const service = sections.filter((s) => s.kind === 'service')
  // Several [SERVICE] sections merge, later keys winning, as in Fluent Bit.
  const merged = new PluginSection('service', '', service[0]?.where ?? source, new Map())
  for (const s of service)
    for (const [k, v] of s.props) merged.props.set(k, [...(merged.props.get(k) ?? []), ...v])
  let svc: ServiceSpec | undefined
  try {
    if (merged.bool('daemon', false))
      throw merged.error(
        'daemon',
        'Daemon On is not supported: a container runs its process in the foreground',
      )
    const lvl = merged.str('log_level')
    if (lvl !== undefined && !(lvl.toLowerCase() in LOG_LEVELS))
      throw merged.error(
        'log_level',
        `Log_Level must be one of ${Object.keys(LOG_LEVELS).join(', ')}, got "${lvl}"`,
      )
    svc = {
      flushMs: merged.seconds('flush', 1000),
      graceMs: merged.has('grace') ? merged.seconds('grace', 5000) : undefined,
      logLevel: lvl === undefined ? undefined : LOG_LEVELS[lvl.toLowerCase()],
      httpListen: merged.bool('http_server', false) ? merged.str('http_listen') : undefined,
      httpPort:
        merged.bool('http_server', false) && merged.has('http_port')
          ? merged.int('http_port', 2020, 0, 65535)
          : undefined,
      storagePath: merged.str('storage.path') || undefined,
      storageSync: merged.oneOf('storage.sync', ['normal', 'full'] as const, 'normal'),
      schedulerBaseMs: merged.has('scheduler.base') ? merged.seconds('scheduler.base', 5000) : undefined,
      schedulerCapMs: merged.has('scheduler.cap') ? merged.seconds('scheduler.cap', 2_000_000) : undefined,
      // Fluent Bit's defaults: 5 errors, 5 retry failures, a 60 s period.
      healthCheck: merged.bool('health_check', false)
        ? {
            errors: merged.int('hc_errors_count', 5),
            retryFailures: merged.int('hc_retry_failure_count', 5),
            periodMs: merged.seconds('hc_period', 60_000),
          }
        : undefined,
    }
    if (svc.flushMs <= 0) throw merged.error('flush', 'Flush must be greater than 0')
  } catch (err) {
    errors.push((err as Error).message)
  }
  for (const k of ['storage.checksum', 'storage.backlog.mem_limit', 'storage.max_chunks_up']) {
    if (merged.has(k)) warnings.push(`${merged.whereOf(k)}: ${k} is accepted and has no effect here`)
  }
  if (merged.has('log_file'))
    warnings.push(
      `${merged.whereOf('log_file')}: Log_File is accepted and has no effect here: the shipper logs JSON to stdout, where the container runtime keeps it`,
    )

  const parsers = sections.filter((s) => s.kind === 'parser')
  const seen = new Map<string, string>()
  for (const p of parsers) {
    const name = p.str('name')
    if (!name) {
      errors.push(`${p.where}: [PARSER] needs a Name`)
      continue
    }
    if (seen.has(name))
      errors.push(`${p.whereOf('name')}: parser "${name}" is already defined at ${seen.get(name)}`)
    seen.set(name, p.whereOf('name'))
  }

  if (errors.length > 0) {
    const text = `${source}: ${errors.length} problem${errors.length === 1 ? '' : 's'} in the pipeline configuration:\n  ${errors.join('\n  ')}`
    throw unsupportedPlugin ? new UnsupportedPluginError(text) : new PipelineConfigError(text)
  }
  return {
    service: svc!,
    inputs: sections.filter((s) => s.kind === 'input'),
    filters: sections.filter((s) => s.kind === 'filter'),
    outputs: sections.filter((s) => s.kind === 'output'),
    parsers,
    multilineParsers: sections.filter((s) => s.kind === 'multiline_parser'),
    warnings,
    source,
  }
}
