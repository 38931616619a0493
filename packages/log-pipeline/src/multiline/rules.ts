// Continuation rules of the stack-trace presets: which lines belong to the record above them in
// Java, Python and Go traces (the shapes Fluent Bit's built-in multiline parsers recognise).

/** false: the line starts a new record; true: it continues; 'enter'/'leave': continues and changes state. */
export type Verdict = boolean | 'enter' | 'leave'

export interface Continuation {
  /** Whether the line continues the pending record; `inTrace` is this rule's state. */
  continues(line: string, inTrace: boolean): Verdict
  /** Whether a first line opens a trace (sets the state). */
  opens?(line: string): boolean
}

// Each rule runs on every line, so it looks at the first character before running a RegExp.
const isSpace = (c: number) => c === 0x20 || c === 0x09
const isLower = (c: number) => c >= 0x61 && c <= 0x7a

const JAVA_CONT = /^\s+(?:at |\.\.\. \d+ (?:more|common frames omitted)|Caused by: |Suppressed: )/
// `java.lang.IllegalStateException: boom` under the log line that reported it.
const JAVA_EXC = /^(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)(?::.*)?$/

const java: Continuation = {
  continues(line) {
    const c = line.charCodeAt(0)
    if (isSpace(c)) return JAVA_CONT.test(line)
    if (c === 0x43 /* C */) return line.startsWith('Caused by: ')
    if (c === 0x53 /* S */) return line.startsWith('Suppressed: ')
    return isLower(c) && JAVA_EXC.test(line)
  },
}

const PY_TRACEBACK = 'Traceback (most recent call last):'
const PY_CHAIN = /^(During handling of the above exception|The above exception was the direct cause)/

const python: Continuation = {
  continues(line, inTrace) {
    if (line.charCodeAt(0) === 0x54 /* T */ && line.startsWith(PY_TRACEBACK)) return 'enter'
    if (!inTrace) return false
    if (line === '' || isSpace(line.charCodeAt(0)) || PY_CHAIN.test(line)) return true
    // The exception line (`ValueError: bad`) ends the trace, unless another chained trace follows.
    return 'leave'
  },
  opens: (line) => line.startsWith(PY_TRACEBACK),
}

const GO_PANIC = /^(panic: |fatal error: )/
const GO_CONT =
  /^(goroutine \d+ \[|\s|$|created by |\[signal |exit status \d+$|[\w./*()[\]-]+(\.\w+)?\(.*\)$|[\w./-]+\.\w+\(\.\.\.\)$)/

const go: Continuation = {
  continues(line, inTrace) {
    if (!inTrace) return line.startsWith('goroutine ') && /^goroutine \d+ \[/.test(line) ? 'enter' : false
    return GO_PANIC.test(line) || GO_CONT.test(line)
  },
  opens: (line) => GO_PANIC.test(line),
}

/** Any indented line continues the record above it (the common shape of every trace). */
const indented: Continuation = {
  continues: (line) => isSpace(line.charCodeAt(0)) && /^\s+\S/.test(line),
}

export const PRESET_RULES: Record<'java' | 'python' | 'go' | 'indented', Continuation> = {
  java,
  python,
  go,
  indented,
}
