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

const JAVA_CONT = /^\s+at |^\s*Caused by: |^\s*Suppressed: |^\s+\.\.\. \d+ (more|common frames omitted)/
// `java.lang.IllegalStateException: boom` under the log line that reported it.
const JAVA_EXC = /^(?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)(?::.*)?$/

const java: Continuation = {
  continues(line) {
    return JAVA_CONT.test(line) || JAVA_EXC.test(line)
  },
}

const PY_TRACEBACK = /^Traceback \(most recent call last\):$/
const PY_CHAIN = /^(During handling of the above exception|The above exception was the direct cause)/

const python: Continuation = {
  continues(line, inTrace) {
    if (PY_TRACEBACK.test(line)) return 'enter'
    if (!inTrace) return false
    if (line === '' || /^\s/.test(line) || PY_CHAIN.test(line)) return true
    // The exception line (`ValueError: bad`) ends the trace, unless another chained trace follows.
    return 'leave'
  },
  opens: (line) => PY_TRACEBACK.test(line),
}

const GO_PANIC = /^(panic: |fatal error: )/
const GO_CONT =
  /^(goroutine \d+ \[|\s|$|created by |\[signal |exit status \d+$|[\w./*()[\]-]+(\.\w+)?\(.*\)$|[\w./-]+\.\w+\(\.\.\.\)$)/

const go: Continuation = {
  continues(line, inTrace) {
    if (GO_PANIC.test(line) && inTrace) return true
    if (!inTrace) return /^goroutine \d+ \[/.test(line) ? 'enter' : false
    return GO_CONT.test(line)
  },
  opens: (line) => GO_PANIC.test(line),
}

export const PRESET_RULES: Record<'java' | 'python' | 'go', Continuation> = { java, python, go }
