// Reader of Fluent Bit's classic config format (fluent-bit.conf, parsers.conf): sections, indented
// `Key Value` lines, `#` comments, `@INCLUDE` with globs, `@SET`, and `${VAR}` interpolation.
// It only splits and locates; what each section means is checked in pipeline-spec.ts.
// Format: https://docs.fluentbit.io/manual/administration/configuring-fluent-bit/classic-mode

import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import { PipelineConfigError } from '../errors.ts'

export const SECTION_KINDS = ['SERVICE', 'INPUT', 'FILTER', 'OUTPUT', 'PARSER', 'MULTILINE_PARSER'] as const
export type SectionKind = (typeof SECTION_KINDS)[number]

export interface ClassicEntry {
  /** The key as written. */
  key: string
  /** The key lower-cased: Fluent Bit keys are case-insensitive. */
  lkey: string
  value: string
  file: string
  line: number
}

export interface ClassicSection {
  kind: SectionKind
  file: string
  line: number
  entries: ClassicEntry[]
}

export interface ClassicConfig {
  /** The main file, absolute; relative Parsers_File and @INCLUDE paths resolve from its directory. */
  file: string
  sections: ClassicSection[]
  /** Variables referenced but not set (Fluent Bit substitutes an empty string and warns). */
  unsetVariables: Array<{ name: string; where: string }>
}

export interface ReadOptions {
  env?: Record<string, string | undefined>
  /** Variables from @SET in an including file. */
  vars?: Map<string, string>
  /** Directory relative @INCLUDE paths resolve from (the main file's). */
  baseDir?: string
}

const MAX_INCLUDE_DEPTH = 16

/** Reads a classic-format file and everything it includes. Throws PipelineConfigError naming file and line. */
export function readClassicConfig(path: string, opts: ReadOptions = {}): ClassicConfig {
  const file = resolve(path)
  const out: ClassicConfig = { file, sections: [], unsetVariables: [] }
  const vars = opts.vars ?? new Map<string, string>()
  readInto(out, file, opts.env ?? process.env, vars, opts.baseDir ?? dirname(file), 0)
  return out
}

/** Reads classic text that is not on disk (tests, --check-config of a ConfigMap value). */
export function parseClassicText(text: string, file: string, opts: ReadOptions = {}): ClassicConfig {
  const out: ClassicConfig = { file, sections: [], unsetVariables: [] }
  parseInto(
    out,
    text,
    file,
    opts.env ?? process.env,
    opts.vars ?? new Map(),
    opts.baseDir ?? dirname(file),
    0,
  )
  return out
}

function readInto(
  out: ClassicConfig,
  file: string,
  env: Record<string, string | undefined>,
  vars: Map<string, string>,
  baseDir: string,
  depth: number,
): void {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new PipelineConfigError(`cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
  parseInto(out, text, file, env, vars, baseDir, depth)
}

function parseInto(
  out: ClassicConfig,
  text: string,
  file: string,
  env: Record<string, string | undefined>,
  vars: Map<string, string>,
  baseDir: string,
  depth: number,
): void {
  const lines = text.split(/\r?\n/)
  let current: ClassicSection | undefined
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1
    const where = `${file}:${lineNo}`
    const raw = lines[i]!
    const trimmed = raw.trim()
    if (trimmed === '' || trimmed.startsWith('#')) continue

    if (trimmed.startsWith('@')) {
      const m = /^@(\w+)\s*(.*)$/.exec(trimmed)
      const cmd = m?.[1]?.toUpperCase()
      const arg = m?.[2]?.trim() ?? ''
      if (cmd === 'SET') {
        const eq = arg.indexOf('=')
        if (eq <= 0) throw new PipelineConfigError(`${where}: @SET needs KEY=VALUE, got "${arg}"`)
        vars.set(arg.slice(0, eq).trim(), interpolate(arg.slice(eq + 1).trim(), env, vars, where, out))
        continue
      }
      if (cmd === 'INCLUDE') {
        if (arg === '') throw new PipelineConfigError(`${where}: @INCLUDE needs a path`)
        if (depth >= MAX_INCLUDE_DEPTH)
          throw new PipelineConfigError(
            `${where}: @INCLUDE nested deeper than ${MAX_INCLUDE_DEPTH} (a loop?)`,
          )
        const target = interpolate(arg, env, vars, where, out)
        const files = expandInclude(isAbsolute(target) ? target : join(baseDir, target))
        if (!/[*?[]/.test(target) && !existsSync(files[0]!))
          throw new PipelineConfigError(`${where}: @INCLUDE ${target}: no such file`)
        // An included file's sections stand alone: it starts outside any section.
        current = undefined
        for (const f of files) readInto(out, f, env, vars, baseDir, depth + 1)
        continue
      }
      throw new PipelineConfigError(
        `${where}: unknown command @${m?.[1] ?? trimmed} (supported: @INCLUDE, @SET)`,
      )
    }

    if (trimmed.startsWith('[')) {
      // Fluent Bit reads the name up to the first `]` and ignores the rest (`[INPUT]  # app logs`).
      const m = /^\[\s*([A-Za-z_]+)\s*\]/.exec(trimmed)
      if (!m) throw new PipelineConfigError(`${where}: malformed section header ${trimmed}`)
      const kind = m[1]!.toUpperCase() as SectionKind
      if (!SECTION_KINDS.includes(kind))
        throw new PipelineConfigError(
          `${where}: section [${m[1]}] is not supported (supported: ${SECTION_KINDS.map((k) => `[${k}]`).join(', ')})`,
        )
      current = { kind, file, line: lineNo, entries: [] }
      out.sections.push(current)
      continue
    }

    if (!current) throw new PipelineConfigError(`${where}: "${trimmed}" is outside any [SECTION]`)
    // Fluent Bit requires section entries to be indented; an unindented key is a typo for a header.
    if (!/^\s/.test(raw))
      throw new PipelineConfigError(`${where}: entry "${trimmed}" must be indented under its section`)
    const m = /^(\S+)(?:\s+(.*))?$/.exec(trimmed)!
    const key = m[1]!
    const value = interpolate((m[2] ?? '').trim(), env, vars, where, out).trim()
    current.entries.push({ key, lkey: key.toLowerCase(), value, file, line: lineNo })
  }
}

/** `${NAME}`: @SET variables first, then the environment; unset is empty (as Fluent Bit does) and recorded. */
function interpolate(
  text: string,
  env: Record<string, string | undefined>,
  vars: Map<string, string>,
  where: string,
  out: ClassicConfig,
): string {
  if (!text.includes('${')) return text
  return text.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
    const v = vars.get(name) ?? env[name]
    if (v === undefined) {
      out.unsetVariables.push({ name, where })
      return ''
    }
    return v
  })
}

/** `@INCLUDE conf.d/*.conf`: glob in the last path segment, sorted as Fluent Bit does. */
function expandInclude(pattern: string): string[] {
  const name = basename(pattern)
  if (!/[*?[]/.test(name)) return [pattern]
  const dir = dirname(pattern)
  const re = new RegExp(
    `^${name
      .replace(/[.+^${}()|\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')}$`,
  )
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  return names
    .filter((n) => re.test(n))
    .sort()
    .map((n) => join(dir, n))
}
