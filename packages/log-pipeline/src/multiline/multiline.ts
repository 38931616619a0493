// Multiline: joins the lines of one record (a stack trace under its log line, CRI partial lines,
// Docker json-file fragments) per file, with a flush timeout so the last record is not held back.
// A pending record holds the chunks its lines came from, so their offsets wait for its delivery.

import { PipelineConfigError } from '../errors.ts'
import { type Continuation, PRESET_RULES } from './rules.ts'

export type MultilineMode = 'regex' | 'java' | 'python' | 'go' | 'stacktrace' | 'cri' | 'docker'

export interface MultilineOptions {
  /**
   * `regex`: a line matching firstLine starts a record, any other line continues it. `java`,
   * `python`, `go`: stack-trace rules of that runtime; `stacktrace`: all three. `cri`: join P
   * (partial) lines up to the F line. `docker`: join json-file fragments whose log lacks "\n".
   */
  mode: MultilineMode
  /** The first-line pattern of `regex` mode (Fluent Bit's Parser_Firstline / start_state). */
  firstLine?: string | RegExp
  /** A pending record is passed on after this many ms without a new line. Default 1000. */
  flushTimeout?: number
  /** A record is passed on when it reaches this many lines. Default 1000. */
  maxLines?: number
  /** A record is passed on when it reaches this many characters. Default 1 MiB. */
  maxChars?: number
}

/** Receives each joined record, with the releases of the chunks its lines came from. */
export type MultilineEmit = (stream: string, text: string, releases: Array<() => void>) => void

export interface Multiline {
  /** Adds a line of `stream` (a file); `hold` is the chunk's hold(), when the line comes from a tail source. */
  push(stream: string, line: string, hold?: () => () => void): void
  /** Passes on records idle for at least `idleMs` (all with 0). */
  flush(idleMs?: number): void
  /** Number of records waiting for more lines. */
  pending(): number
}

interface Group {
  lines: string[]
  chars: number
  releases: Array<() => void>
  lastHold: (() => () => void) | undefined
  updated: number
  state: number
  /** For cri/docker: the first fragment's metadata. */
  head?: string
  meta?: Record<string, unknown>
}

export function createMultiline(opts: MultilineOptions, emit: MultilineEmit): Multiline {
  const flushTimeout = opts.flushTimeout ?? 1000
  const maxLines = opts.maxLines ?? 1000
  const maxChars = opts.maxChars ?? 1024 * 1024
  const groups = new Map<string, Group>()

  const newGroup = (): Group => ({
    lines: [],
    chars: 0,
    releases: [],
    lastHold: undefined,
    updated: 0,
    state: 0,
  })
  const add = (g: Group, line: string, hold?: () => () => void) => {
    g.lines.push(line)
    g.chars += line.length + 1
    g.updated = Date.now()
    // One hold per chunk per group: consecutive lines of a chunk share it.
    if (hold && hold !== g.lastHold) {
      g.releases.push(hold())
      g.lastHold = hold
    }
  }
  const finish = (key: string, stream: string, g: Group) => {
    groups.delete(key)
    if (g.lines.length === 0) {
      for (const r of g.releases) r()
      return
    }
    emit(stream, render(g), g.releases)
  }
  let render = (g: Group) => (g.lines.length === 1 ? g.lines[0]! : g.lines.join('\n'))

  let push: Multiline['push']
  switch (opts.mode) {
    case 'regex':
    case 'java':
    case 'python':
    case 'go':
    case 'stacktrace': {
      let starts: (line: string, g: Group | undefined) => boolean
      if (opts.mode === 'regex') {
        if (!opts.firstLine) throw new PipelineConfigError('multiline mode regex needs a firstLine pattern')
        let re: RegExp
        try {
          re = typeof opts.firstLine === 'string' ? new RegExp(opts.firstLine) : opts.firstLine
        } catch (err) {
          throw new PipelineConfigError(
            `multiline firstLine ${JSON.stringify(opts.firstLine)} is not a valid regex`,
            {
              cause: err,
            },
          )
        }
        starts = (line) => re.test(line)
      } else {
        const rules: Continuation[] =
          opts.mode === 'stacktrace'
            ? [PRESET_RULES.java, PRESET_RULES.python, PRESET_RULES.go]
            : [PRESET_RULES[opts.mode]]
        starts = (line, g) => {
          if (!g) return true
          for (let i = 0; i < rules.length; i++) {
            const bit = 1 << i
            const r = rules[i]!.continues(line, (g.state & bit) !== 0)
            if (r !== false) {
              g.state = r === 'enter' ? g.state | bit : r === 'leave' ? g.state & ~bit : g.state
              return false
            }
          }
          return true
        }
      }
      push = (stream, line, hold) => {
        let g = groups.get(stream)
        if (!g || starts(line, g)) {
          if (g) finish(stream, stream, g)
          g = newGroup()
          if (opts.mode !== 'regex') {
            // A first line can itself open a trace (`panic: ...`, `Traceback ...`).
            const rules = opts.mode === 'stacktrace' ? ['java', 'python', 'go'] : [opts.mode]
            rules.forEach((m, i) => {
              if (PRESET_RULES[m as 'java'].opens?.(line)) g!.state |= 1 << i
            })
          }
          groups.set(stream, g)
        }
        add(g, line, hold)
        if (g.lines.length >= maxLines || g.chars >= maxChars) finish(stream, stream, g)
      }
      break
    }
    case 'cri': {
      // <time> <stdout|stderr> <P|F>[:more tags] <content>
      const CRI = /^(\S+) (stdout|stderr) ([^ ]*) ?(.*)$/s
      render = (g) => `${g.head} F ${g.lines.join('')}`
      push = (stream, line, hold) => {
        const m = CRI.exec(line)
        if (!m) {
          emit(stream, line, hold ? [hold()] : [])
          return
        }
        const key = `${stream}\u0000${m[2]}`
        const partial = m[3]!.split(':')[0] === 'P'
        let g = groups.get(key)
        if (!g) {
          if (!partial) {
            emit(stream, line, hold ? [hold()] : [])
            return
          }
          g = newGroup()
          g.head = `${m[1]} ${m[2]}`
          groups.set(key, g)
        }
        add(g, m[4]!, hold)
        if (!partial || g.lines.length >= maxLines || g.chars >= maxChars) finish(key, stream, g)
      }
      break
    }
    case 'docker': {
      render = (g) => JSON.stringify({ ...g.meta, log: g.lines.join('') })
      push = (stream, line, hold) => {
        let obj: Record<string, unknown> | undefined
        try {
          obj = JSON.parse(line) as Record<string, unknown>
        } catch {
          obj = undefined
        }
        if (!obj || typeof obj.log !== 'string') {
          emit(stream, line, hold ? [hold()] : [])
          return
        }
        const key = `${stream}\u0000${String(obj.stream)}`
        const complete = obj.log.endsWith('\n')
        let g = groups.get(key)
        if (!g) {
          if (complete) {
            emit(stream, line, hold ? [hold()] : [])
            return
          }
          g = newGroup()
          g.meta = obj
          groups.set(key, g)
        }
        add(g, obj.log, hold)
        if (complete || g.lines.length >= maxLines || g.chars >= maxChars) finish(key, stream, g)
      }
      break
    }
    default:
      throw new PipelineConfigError(`unknown multiline mode ${JSON.stringify(opts.mode)}`)
  }

  return {
    push,
    flush(idleMs = flushTimeout) {
      const now = Date.now()
      for (const [key, g] of [...groups]) {
        if (now - g.updated >= idleMs) finish(key, key.split('\u0000')[0]!, g)
      }
    },
    pending: () => groups.size,
  }
}
