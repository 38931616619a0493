// Multiline: joins the lines of one record (a stack trace under its log line, CRI partial lines,
// Docker json-file fragments) per file, with a flush timeout so the last record is not held back.
// A pending record holds the chunks its lines came from, so their offsets wait for its delivery.

import { PipelineConfigError } from '../errors.ts'
import { type Continuation, PRESET_RULES } from './rules.ts'

export type MultilineMode = 'regex' | 'java' | 'python' | 'go' | 'stacktrace' | 'cri' | 'docker'

export interface MultilineOptions {
  /**
   * `regex`: a line matching firstLine starts a record, any other line continues it. `java`,
   * `python`, `go`: stack-trace rules of that runtime; `stacktrace`: all three, plus any
   * indented line. `cri`: join P
   * (partial) lines up to the F line. `docker`: join json-file fragments whose log lacks "\n".
   */
  mode: MultilineMode
  /** The first-line pattern of `regex` mode (Fluent Bit's Parser_Firstline / start_state). */
  firstLine?: string | RegExp
  /**
   * `regex` mode as Fluent Bit's [MULTILINE_PARSER] state machine (takes the place of firstLine):
   * a line matching a `start_state` rule starts a record; in a record, a line matching a rule
   * whose `from` is the state the last matched rule went `to` continues it; any other line ends
   * the record and is passed on alone (flb_ml_rule_process). `from` may list states with commas.
   */
  rules?: readonly MultilineRule[]
  /** A pending record is passed on after this many ms without a new line. Default 1000. */
  flushTimeout?: number
  /** A record is passed on when it reaches this many lines. Default 1000. */
  maxLines?: number
  /** A record is passed on when it reaches this many characters. Default 1 MiB. */
  maxChars?: number
}

/** One `rule "from_state" "/regex/" "to_state"` of a Fluent Bit multiline parser. */
export interface MultilineRule {
  from: string
  regex: RegExp
  to: string
}

/**
 * Receives each joined record. `releases` are the holds the record took on chunks it outlived
 * (lines that waited past the end of their chunk); undefined when it took none.
 */
export type MultilineEmit = (stream: string, text: string, releases: Array<() => void> | undefined) => void

/** What a pending record holds: a tail chunk (or anything with the same two methods). */
export interface Holdable {
  hold(): () => void
  /** Hold only from this line index on, so the lines before it can be committed. */
  holdFrom?(index: number): () => void
}

export interface Multiline {
  /** Adds a line of `stream` (a file); `index` is its position in the current chunk. */
  push(stream: string, line: string, index?: number): void
  /**
   * Call after the last line of a chunk: a record still waiting for lines holds that chunk,
   * from its first line on, so those lines' offset is not committed before the record is delivered.
   */
  holdPending(stream: string, chunk: Holdable): void
  /** Passes on records idle for at least `idleMs` (all with 0). */
  flush(idleMs?: number): void
  /** Number of records waiting for more lines. */
  pending(): number
}

// One reusable group per stream (and per stdout/stderr for cri/docker): records are joined by
// string concatenation and the object is reset, not reallocated, after each record.
interface Group {
  stream: string
  text: string
  count: number
  chars: number
  releases: Array<() => void> | undefined
  lastHold: Holdable | undefined
  /** Index in the current chunk of the record's first line. */
  startIndex: number
  updated: number
  state: number
  /** For cri: `<time> <stream>` of the first fragment; for docker: its other fields. */
  head?: string
  meta?: Record<string, unknown>
}

export function createMultiline(opts: MultilineOptions, emit: MultilineEmit): Multiline {
  const flushTimeout = opts.flushTimeout ?? 1000
  const maxLines = opts.maxLines ?? 1000
  const maxChars = opts.maxChars ?? 1024 * 1024
  const groups = new Map<string, Group>()

  const group = (key: string, stream: string): Group => {
    let g = groups.get(key)
    if (!g) {
      g = {
        stream,
        text: '',
        count: 0,
        chars: 0,
        releases: undefined,
        lastHold: undefined,
        startIndex: 0,
        updated: 0,
        state: 0,
      }
      groups.set(key, g)
    }
    return g
  }
  const add = (g: Group, line: string, sep: string, index: number) => {
    if (g.count === 0) g.startIndex = index
    g.text = g.count === 0 ? line : g.text + sep + line
    g.count++
    g.chars += line.length + 1
    g.updated = Date.now()
  }
  let render = (g: Group) => g.text
  const finish = (g: Group) => {
    if (g.count === 0) return
    const text = render(g)
    const releases = g.releases
    g.text = ''
    g.count = 0
    g.chars = 0
    g.releases = undefined
    g.lastHold = undefined
    g.state = 0
    g.head = undefined
    g.meta = undefined
    emit(g.stream, text, releases)
  }

  let push: Multiline['push']
  switch (opts.mode) {
    case 'regex':
    case 'java':
    case 'python':
    case 'go':
    case 'stacktrace': {
      let starts: (line: string, g: Group) => boolean
      let opens: ((line: string, g: Group) => void) | undefined
      if (opts.mode === 'regex' && opts.rules) {
        push = stateMachine(opts.rules, group, add, finish, emit, maxLines, maxChars)
        break
      }
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
            ? [PRESET_RULES.java, PRESET_RULES.python, PRESET_RULES.go, PRESET_RULES.indented]
            : [PRESET_RULES[opts.mode]]
        starts = (line, g) => {
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
        // A first line can itself open a trace (`panic: ...`, `Traceback ...`).
        opens = (line, g) => {
          for (let i = 0; i < rules.length; i++) if (rules[i]!.opens?.(line)) g.state |= 1 << i
        }
      }
      push = (stream, line, index = 0) => {
        const g = group(stream, stream)
        if (g.count === 0 || starts(line, g)) {
          finish(g)
          opens?.(line, g)
        }
        add(g, line, '\n', index)
        if (g.count >= maxLines || g.chars >= maxChars) finish(g)
      }
      break
    }
    case 'cri': {
      // <time> <stdout|stderr> <P|F>[:more tags] <content>
      const CRI = /^(\S+) (stdout|stderr) ([^ ]*) ?(.*)$/s
      render = (g) => `${g.head} F ${g.text}`
      push = (stream, line, index = 0) => {
        const m = CRI.exec(line)
        if (!m) {
          emit(stream, line, undefined)
          return
        }
        const partial = m[3]!.split(':')[0] === 'P'
        const g = group(`${stream}\u0000${m[2]}`, stream)
        if (g.count === 0) {
          if (!partial) {
            emit(stream, line, undefined)
            return
          }
          g.head = `${m[1]} ${m[2]}`
        }
        add(g, m[4]!, '', index)
        if (!partial || g.count >= maxLines || g.chars >= maxChars) finish(g)
      }
      break
    }
    case 'docker': {
      render = (g) => JSON.stringify({ ...g.meta, log: g.text })
      push = (stream, line, index = 0) => {
        let obj: Record<string, unknown> | undefined
        try {
          obj = JSON.parse(line) as Record<string, unknown>
        } catch {
          obj = undefined
        }
        if (!obj || typeof obj.log !== 'string') {
          emit(stream, line, undefined)
          return
        }
        const complete = obj.log.endsWith('\n')
        const g = group(`${stream}\u0000${String(obj.stream)}`, stream)
        if (g.count === 0) {
          if (complete) {
            emit(stream, line, undefined)
            return
          }
          g.meta = obj
        }
        add(g, obj.log, '', index)
        if (complete || g.count >= maxLines || g.chars >= maxChars) finish(g)
      }
      break
    }
    default:
      throw new PipelineConfigError(`unknown multiline mode ${JSON.stringify(opts.mode)}`)
  }

  return {
    push,
    holdPending(stream, chunk) {
      for (const g of groups.values()) {
        if (g.stream !== stream || g.count === 0 || g.lastHold === chunk) continue
        // A record that began in this chunk holds it from its first line; one that began in an
        // earlier chunk (already held) holds all of this one.
        const release =
          g.lastHold === undefined && chunk.holdFrom ? chunk.holdFrom(g.startIndex) : chunk.hold()
        g.lastHold = chunk
        if (!g.releases) g.releases = []
        g.releases.push(release)
      }
    },
    flush(idleMs = flushTimeout) {
      const now = Date.now()
      for (const [key, g] of groups) {
        if (g.count > 0 && now - g.updated >= idleMs) finish(g)
        // Forget streams (rotated files) quiet for long, so the map does not grow forever.
        else if (g.count === 0 && now - g.updated > 60_000) groups.delete(key)
      }
    },
    pending() {
      let n = 0
      for (const g of groups.values()) if (g.count > 0) n++
      return n
    },
  }
}

/**
 * Fluent Bit's regex multiline state machine (src/multiline/flb_ml_rule.c). A group's `state` is
 * 1 + the index of the rule its last line matched, 0 outside a record.
 */
function stateMachine(
  rules: readonly MultilineRule[],
  group: (key: string, stream: string) => Group,
  add: (g: Group, line: string, sep: string, index: number) => void,
  finish: (g: Group) => void,
  emit: MultilineEmit,
  maxLines: number,
  maxChars: number,
): Multiline['push'] {
  const fromStates = rules.map((r) => r.from.split(',').map((x) => x.trim()))
  const isStart = fromStates.map((f) => f.includes('start_state'))
  const starts = rules.map((_, i) => i).filter((i) => isStart[i])
  if (starts.length === 0) throw new PipelineConfigError('a multiline parser needs a start_state rule')
  const known = new Set(fromStates.flat())
  // The rules a line may match after rule i: those leaving the state rule i went to, start rules
  // aside (a start rule begins a new record instead).
  const next = rules.map((r) => {
    if (!known.has(r.to))
      throw new PipelineConfigError(`multiline rule to_state "${r.to}" is not the from_state of any rule`)
    return rules.map((_, j) => j).filter((j) => !isStart[j] && fromStates[j]!.includes(r.to))
  })
  // A rule that may lead back to a start state ends its record at once (try_flushing_buffer).
  const endsRecord = rules.map((r) => fromStates.some((f, j) => isStart[j] && f.includes(r.to)))
  return (stream, line, index = 0) => {
    const g = group(stream, stream)
    let matched = -1
    if (g.count > 0 && g.state > 0) {
      for (const j of next[g.state - 1]!) {
        if (rules[j]!.regex.test(line)) {
          matched = j
          break
        }
      }
    }
    if (matched < 0) {
      for (const j of starts) {
        if (rules[j]!.regex.test(line)) {
          matched = j
          break
        }
      }
      finish(g)
      if (matched < 0) {
        // Neither continues the record nor starts one: passed on as a record of its own.
        emit(stream, line, undefined)
        return
      }
    }
    add(g, line, '\n', index)
    g.state = matched + 1
    if (endsRecord[matched] || g.count >= maxLines || g.chars >= maxChars) finish(g)
  }
}
