import { describe, expect, it } from 'vitest'
import { PipelineConfigError } from '../errors.ts'
import { createMultiline, type MultilineOptions } from './multiline.ts'

function run(opts: MultilineOptions, lines: string[], stream = 's'): string[] {
  const out: string[] = []
  const ml = createMultiline(opts, (_s, text) => out.push(text))
  for (const l of lines) ml.push(stream, l)
  ml.flush(0)
  return out
}

const JAVA = [
  '2024-01-15 10:30:00 ERROR Request failed',
  'java.lang.IllegalStateException: connection reset',
  '\tat com.example.db.Pool.acquire(Pool.java:42)',
  '\tat com.example.api.Handler.handle(Handler.java:17)',
  'Caused by: java.net.SocketException: Connection reset',
  '\tat java.base/java.net.SocketInputStream.read(SocketInputStream.java:186)',
  '\t... 12 more',
  '2024-01-15 10:30:01 INFO next',
]
const PYTHON = [
  'ERROR:root:division failed',
  'Traceback (most recent call last):',
  '  File "/app/main.py", line 3, in <module>',
  '    1 / 0',
  'ZeroDivisionError: division by zero',
  'INFO:root:next',
]
const GO = [
  'panic: runtime error: index out of range [5] with length 3',
  '',
  'goroutine 1 [running]:',
  'main.main()',
  '\t/app/main.go:8 +0x1d',
  'exit status 2',
  'level=info msg=next',
]

describe('multiline', () => {
  it('java joins the exception, frames and causes under the log line', () => {
    expect(run({ mode: 'java' }, JAVA)).toEqual([JAVA.slice(0, 7).join('\n'), JAVA[7]])
  })
  it('python joins the traceback and the exception line', () => {
    expect(run({ mode: 'python' }, PYTHON)).toEqual([PYTHON.slice(0, 5).join('\n'), PYTHON[5]])
  })
  it('go joins a panic with its goroutine dump', () => {
    expect(run({ mode: 'go' }, GO)).toEqual([GO.slice(0, 6).join('\n'), GO[6]])
  })
  it('stacktrace handles all three in one stream, and plain lines stay single', () => {
    const lines = ['plain one', ...JAVA, ...PYTHON, 'plain two']
    const out = run({ mode: 'stacktrace' }, lines)
    expect(out).toEqual([
      'plain one',
      JAVA.slice(0, 7).join('\n'),
      JAVA[7],
      PYTHON.slice(0, 5).join('\n'),
      PYTHON[5],
      'plain two',
    ])
  })
  it('regex: lines not matching the first-line pattern join the record above', () => {
    expect(
      run({ mode: 'regex', firstLine: '^\\d{4}-' }, ['orphan', '2024-01-01 a', 'b', 'c', '2024-01-02 d']),
    ).toEqual(['orphan', '2024-01-01 a\nb\nc', '2024-01-02 d'])
    expect(() => run({ mode: 'regex' }, [])).toThrow(PipelineConfigError)
    expect(() => run({ mode: 'regex', firstLine: '(' }, [])).toThrow(PipelineConfigError)
  })
  it('cri: P fragments are joined up to the F line, per stream', () => {
    const out = run({ mode: 'cri' }, [
      '2024-01-15T10:30:00.1Z stdout P hello ',
      '2024-01-15T10:30:00.2Z stderr F err line',
      '2024-01-15T10:30:00.3Z stdout P big ',
      '2024-01-15T10:30:00.4Z stdout F world',
      '2024-01-15T10:30:00.5Z stdout F single',
    ])
    expect(out).toEqual([
      '2024-01-15T10:30:00.2Z stderr F err line',
      '2024-01-15T10:30:00.1Z stdout F hello big world',
      '2024-01-15T10:30:00.5Z stdout F single',
    ])
  })
  it('docker: json-file fragments without a trailing newline are joined', () => {
    const out = run({ mode: 'docker' }, [
      JSON.stringify({ log: 'part one ', stream: 'stdout', time: 't1' }),
      JSON.stringify({ log: 'part two\n', stream: 'stdout', time: 't2' }),
      JSON.stringify({ log: 'whole\n', stream: 'stdout', time: 't3' }),
    ])
    expect(out.map((l) => JSON.parse(l))).toEqual([
      { log: 'part one part two\n', stream: 'stdout', time: 't1' },
      { log: 'whole\n', stream: 'stdout', time: 't3' },
    ])
  })
  it('streams (files) are joined separately; maxLines caps a record', () => {
    const out: string[] = []
    const ml = createMultiline({ mode: 'java', maxLines: 3 }, (_s, t) => out.push(t))
    ml.push('a', 'A head')
    ml.push('b', 'B head')
    ml.push('a', '\tat a1')
    ml.push('b', '\tat b1')
    ml.push('a', '\tat a2')
    ml.push('a', '\tat a3')
    ml.flush(0)
    expect(out).toEqual(['A head\n\tat a1\n\tat a2', '\tat a3', 'B head\n\tat b1'])
  })
  it('a pending record is flushed after the timeout, not before', async () => {
    const out: string[] = []
    const ml = createMultiline({ mode: 'java', flushTimeout: 50 }, (_s, t) => out.push(t))
    ml.push('s', 'only line')
    ml.flush()
    expect(out).toEqual([])
    expect(ml.pending()).toBe(1)
    await new Promise((r) => setTimeout(r, 80))
    ml.flush()
    expect(out).toEqual(['only line'])
    expect(ml.pending()).toBe(0)
  })
  it('a record waiting past its chunk holds that chunk, from its first line, until it is emitted', () => {
    const holds: string[] = []
    let released = 0
    const chunk = {
      hold: () => {
        holds.push('all')
        return () => {
          released++
        }
      },
      holdFrom: (i: number) => {
        holds.push(`from ${i}`)
        return () => {
          released++
        }
      },
    }
    const got: Array<Array<() => void> | undefined> = []
    const ml = createMultiline({ mode: 'java' }, (_s, _t, rel) => got.push(rel))
    ml.push('s', 'first record', 0)
    ml.push('s', 'second record', 1)
    ml.push('s', '\tat frame', 2)
    ml.holdPending('s', chunk)
    ml.holdPending('s', chunk) // same chunk: one hold
    expect(holds).toEqual(['from 1'])
    const next = { ...chunk }
    ml.push('s', '\tat more', 0)
    ml.holdPending('s', next) // began in an earlier chunk: holds all of this one
    expect(holds).toEqual(['from 1', 'all'])
    ml.push('s', 'third record', 1)
    expect(got).toEqual([undefined, [expect.any(Function), expect.any(Function)]])
    for (const r of got[1]!) r()
    expect(released).toBe(2)
  })
})

describe('regex rules (Fluent Bit MULTILINE_PARSER state machine)', () => {
  const rules = [
    { from: 'start_state', regex: /^Traceback/, to: 'python_tb' },
    { from: 'python_tb', regex: /^\s+File/, to: 'python_code' },
    { from: 'python_code', regex: /^\s+/, to: 'python_tb' },
    { from: 'python_tb', regex: /^\w+Error:/, to: 'start_state' },
  ]
  it('follows the states, ends the record on a rule that returns to start_state, passes other lines alone', () => {
    expect(
      run({ mode: 'regex', rules }, [
        'INFO:root:before',
        'Traceback (most recent call last):',
        '  File "/app/main.py", line 3, in <module>',
        '    1 / 0',
        'ZeroDivisionError: division by zero',
        'INFO:root:after',
        '    indented but outside a record',
      ]),
    ).toEqual([
      'INFO:root:before',
      'Traceback (most recent call last):\n  File "/app/main.py", line 3, in <module>\n    1 / 0\nZeroDivisionError: division by zero',
      'INFO:root:after',
      '    indented but outside a record',
    ])
  })
  it('a line out of sequence ends the record; a to_state no rule leaves from is a config error', () => {
    expect(
      run({ mode: 'regex', rules }, ['Traceback (most recent call last):', '    1 / 0', 'Traceback again']),
    ).toEqual(['Traceback (most recent call last):', '    1 / 0', 'Traceback again'])
    expect(() =>
      createMultiline({ mode: 'regex', rules: [{ from: 'start_state', regex: /a/, to: 'cont' }] }, () => {}),
    ).toThrow(PipelineConfigError)
  })
})
