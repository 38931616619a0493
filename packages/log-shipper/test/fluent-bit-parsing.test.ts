// Parser and filter behaviour a Fluent Bit user relies on, checked end to end (classic config ->
// tail -> parser -> filters -> forward receiver): Time_Format reads as much of the time as it
// describes and ignores the rest (flb_strptime), Skip_Empty_Values is On by default for regex
// parsers, and modify and the loki output treat a field the regex did not fill as absent.

import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createLogger, Registry } from '@podkit/runtime'
import { tempDir, waitFor } from '@podkit/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogShipper } from '../src/index.ts'
import { type ForwardReceiver, startForwardReceiver } from './fakes/forward-receiver.ts'
import { startLokiFake } from './fakes/http-fakes.ts'
import { FIXTURES, startInProcess } from './helpers.ts'

const logger = createLogger({ name: 'test', level: 'silent' })
let cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const c of cleanup.reverse()) await c()
  cleanup = []
})

/**
 * Runs a classic config with the seed's parsers.conf plus `parsers` and `filters`, one input per
 * parser (tag = parser name), over the given lines; returns the receiver once `expected` arrived.
 */
async function ship(opts: {
  parsers: string
  filters?: string
  inputs: Record<string, string[]>
  expected: number
}): Promise<ForwardReceiver> {
  const dir = tempDir('shipper-parsing-')
  cleanup.push(() => dir.cleanup())
  const recv = await startForwardReceiver()
  cleanup.push(() => recv.stop())
  let inputs = ''
  for (const [parser, lines] of Object.entries(opts.inputs)) {
    mkdirSync(join(dir.path, parser))
    writeFileSync(join(dir.path, parser, 'a.log'), `${lines.join('\n')}\n`)
    inputs += `[INPUT]
    Name tail
    Path ${dir.path}/${parser}/*.log
    Parser ${parser}
    Tag ${parser}
    Read_from_Head On
`
  }
  writeFileSync(join(dir.path, 'parsers.conf'), opts.parsers)
  writeFileSync(
    join(dir.path, 'fluent-bit.conf'),
    `[SERVICE]
    Flush 0.1
    Parsers_File ${join(FIXTURES, 'parsers.conf')}
    Parsers_File parsers.conf
${inputs}${opts.filters ?? ''}
[OUTPUT]
    Name forward
    Match *
    Port ${recv.port}
    Require_ack_response On
`,
  )
  await startInProcess(join(dir.path, 'fluent-bit.conf'), cleanup, logger)
  await waitFor(() => recv.events.length >= opts.expected, 10_000, `${opts.expected} records`)
  return recv
}

const byTag = (recv: ForwardReceiver, tag: string) => recv.events.filter((e) => e.tag === tag)

describe('Fluent Bit parser semantics', () => {
  it('Time_Format takes the time it describes and ignores the rest (fractions, zone), regex and json, fast and typed paths', async () => {
    const parsers = `[PARSER]
    Name        iso
    Format      regex
    Regex       ^(?<time>\\S+) (?<msg>.*)$
    Time_Key    time
    Time_Format %Y-%m-%dT%H:%M:%S

[PARSER]
    Name        iso_typed
    Format      regex
    Regex       ^(?<time>\\S+) (?<n>\\d+) (?<msg>.*)$
    Time_Key    time
    Time_Format %Y-%m-%dT%H:%M:%S
    Types       n:integer

[PARSER]
    Name        py
    Format      json
    Time_Key    ts
    Time_Format %Y-%m-%d %H:%M:%S
`
    const recv = await ship({
      parsers,
      inputs: {
        iso: ['2026-11-24T10:00:00.123456Z hello', '2026-11-24T10:00:01.5+00:00 again'],
        iso_typed: ['2026-11-24T10:00:02.999999999Z 42 typed'],
        py: ['{"ts":"2026-11-24 10:00:03,250","msg":"python logging"}'],
      },
      expected: 4,
    })
    const base = Date.UTC(2026, 10, 24, 10, 0, 0) / 1000
    expect(byTag(recv, 'iso').map((e) => [e.time, e.record])).toEqual([
      [base, { msg: 'hello' }],
      [base + 1, { msg: 'again' }],
    ])
    expect(byTag(recv, 'iso_typed').map((e) => [e.time, e.record])).toEqual([
      [base + 2, { n: 42, msg: 'typed' }],
    ])
    expect(byTag(recv, 'py').map((e) => [e.time, e.record])).toEqual([[base + 3, { msg: 'python logging' }]])
  })

  it('Skip_Empty_Values is On by default for regex parsers: empty captures are left out (also the seed nginx regex); Off keeps them', async () => {
    const parsers = `[PARSER]
    Name        kv
    Format      regex
    Regex       ^(?<a>[^,]*),(?<b>[^,]*),(?<n>[^,]*)$
    Types       n:integer

[PARSER]
    Name        kv_keep
    Format      regex
    Regex       ^(?<a>[^,]*),(?<b>[^,]*)$
    Skip_Empty_Values Off

[PARSER]
    Name        js
    Format      json
`
    const recv = await ship({
      parsers,
      inputs: {
        nginx: ['10.0.0.1 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 612 "" "curl/8.0"'],
        kv: [',x,', 'y,,7'],
        kv_keep: [',x'],
        js: ['{"a":"","b":"x"}'],
      },
      expected: 5,
    })
    const nginx = byTag(recv, 'nginx')[0]!.record
    expect(nginx).toMatchObject({ remote: '10.0.0.1', code: '200', agent: 'curl/8.0' })
    expect(Object.keys(nginx)).not.toContain('referer')
    expect(byTag(recv, 'kv').map((e) => e.record)).toEqual([{ b: 'x' }, { a: 'y', n: 7 }])
    expect(byTag(recv, 'kv_keep').map((e) => e.record)).toEqual([{ a: '', b: 'x' }])
    // Fluent Bit applies skip_empty to regex parsers only.
    expect(byTag(recv, 'js').map((e) => e.record)).toEqual([{ a: '', b: 'x' }])
  })

  it('modify Add, Hard_rename and Hard_copy treat a regex group that did not take part as absent', async () => {
    const filters = `
[FILTER]
    Name        modify
    Match       nginx
    Add         agent unknown
    Hard_rename referer code
    Hard_copy   referer size
`
    const recv = await ship({
      parsers: '',
      filters,
      // The seed regex's optional group: no referer and agent on this line.
      inputs: { nginx: ['10.0.0.1 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 612'] },
      expected: 1,
    })
    expect(recv.events[0]!.record).toMatchObject({ agent: 'unknown', code: '200', size: '612' })
  })
})

describe('outputs and fields a regex parser left out', () => {
  it('loki Line_Format key_value and Drop_Single_Key skip fields the regex did not fill', async () => {
    const dir = tempDir('shipper-loki-kv-')
    cleanup.push(() => dir.cleanup())
    const loki = await startLokiFake()
    cleanup.push(() => loki.stop())
    for (const d of ['nginx', 'msg']) mkdirSync(join(dir.path, d))
    writeFileSync(
      join(dir.path, 'nginx/a.log'),
      '10.0.0.1 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 612\n',
    )
    writeFileSync(join(dir.path, 'msg/a.log'), 'hello\n')
    writeFileSync(
      join(dir.path, 'parsers.conf'),
      `[PARSER]
    Name   msg
    Format regex
    Regex  ^(?<msg>[^|]*)(?:\\|(?<extra>.*))?$
`,
    )
    writeFileSync(
      join(dir.path, 'fluent-bit.conf'),
      `[SERVICE]
    Flush 0.1
    Parsers_File ${join(FIXTURES, 'parsers.conf')}
    Parsers_File parsers.conf
[INPUT]
    Name tail
    Path ${dir.path}/nginx/*.log
    Parser nginx
    Tag nginx
    Read_from_Head On
[INPUT]
    Name tail
    Path ${dir.path}/msg/*.log
    Parser msg
    Tag msg
    Read_from_Head On
[OUTPUT]
    Name loki
    Match nginx
    Port ${loki.port}
    Labels job=nginx
    Line_Format key_value
[OUTPUT]
    Name loki
    Match msg
    Port ${loki.port}
    Labels job=msg
    Drop_Single_Key On
`,
    )
    await startInProcess(join(dir.path, 'fluent-bit.conf'), cleanup, logger)
    await waitFor(() => loki.entries.length >= 2, 10_000, 'two loki entries')
    const line = (job: string) => loki.entries.find((e) => e.labels.job === job)!.line
    expect(line('nginx')).toBe(
      'remote="10.0.0.1" host="-" user="-" method="GET" path="/" code="200" size="612"',
    )
    expect(line('msg')).toBe('hello')
  })
})

describe('MULTILINE_PARSER rules', () => {
  it('may be written without the slashes around the regex, as Fluent Bit allows', async () => {
    const dir = tempDir('shipper-ml-noslash-')
    cleanup.push(() => dir.cleanup())
    const recv = await startForwardReceiver()
    cleanup.push(() => recv.stop())
    writeFileSync(
      join(dir.path, 'parsers.conf'),
      `[MULTILINE_PARSER]
    name          py
    type          regex
    flush_timeout 200
    rule          "start_state"  "^Traceback"   "tb"
    rule          "tb"           "/^\\s+/"      "tb"
`,
    )
    writeFileSync(
      join(dir.path, 'fluent-bit.conf'),
      `[SERVICE]
    Flush 0.1
    Parsers_File parsers.conf
[INPUT]
    Name tail
    Path ${dir.path}/app/*.log
    Tag app
    Read_from_Head On
    multiline.parser py
[OUTPUT]
    Name forward
    Match app
    Port ${recv.port}
`,
    )
    mkdirSync(join(dir.path, 'app'))
    writeFileSync(
      join(dir.path, 'app/a.log'),
      'Traceback (most recent call last):\n  File "x.py"\nValueError: no\n',
    )
    await startInProcess(join(dir.path, 'fluent-bit.conf'), cleanup, logger)
    await waitFor(() => recv.events.length >= 2, 10_000, 'two records')
    expect(recv.events.map((e) => e.record.log)).toEqual([
      'Traceback (most recent call last):\n  File "x.py"',
      'ValueError: no',
    ])
  })

  it('run as a state machine: a line that neither continues the record nor starts one is a record of its own', async () => {
    const dir = tempDir('shipper-ml-states-')
    cleanup.push(() => dir.cleanup())
    const recv = await startForwardReceiver()
    cleanup.push(() => recv.stop())
    // Fluent Bit's documented example (pipeline/parsers/multiline-parsing), rules as written there.
    writeFileSync(
      join(dir.path, 'parsers.conf'),
      `[MULTILINE_PARSER]
    name          multiline-regex-test
    type          regex
    flush_timeout 1000
    rule      "start_state"   "/([a-zA-Z]+ \\d+ \\d+\\:\\d+\\:\\d+)(.*)/"  "cont"
    rule      "cont"          "/^\\s+at.*/"                     "cont"
`,
    )
    writeFileSync(
      join(dir.path, 'fluent-bit.conf'),
      `[SERVICE]
    Flush 0.1
    Parsers_File parsers.conf
[INPUT]
    Name tail
    Path ${dir.path}/app/*.log
    Tag app
    Read_from_Head On
    multiline.parser multiline-regex-test
[OUTPUT]
    Name forward
    Match app
    Port ${recv.port}
`,
    )
    mkdirSync(join(dir.path, 'app'))
    const trace = [
      'Dec 14 06:41:08 Exception in thread "main" java.lang.RuntimeException: Something has gone wrong, aborting!',
      '    at com.myproject.module.MyProject.badMethod(MyProject.java:22)',
      '    at com.myproject.module.MyProject.oneMoreMethod(MyProject.java:18)',
    ]
    writeFileSync(
      join(dir.path, 'app/a.log'),
      `single line...\n${trace.join('\n')}\nanother line...\nDec 14 06:41:09 done\n`,
    )
    await startInProcess(join(dir.path, 'fluent-bit.conf'), cleanup, logger)
    await waitFor(() => recv.events.length >= 4, 10_000, 'four records')
    expect(recv.events.map((e) => e.record.log)).toEqual([
      'single line...',
      trace.join('\n'),
      'another line...',
      'Dec 14 06:41:09 done',
    ])
  })
})

describe('the parser filter', () => {
  it('with Reserve_Data keeps a parsed field named like Key_Name and original fields the regex left out', async () => {
    const filters = `
[FILTER]
    Name         parser
    Match        raw
    Key_Name     log
    Parser       json
    Reserve_Data On
[FILTER]
    Name         modify
    Match        kv
    Add          b original
[FILTER]
    Name         parser
    Match        kv
    Key_Name     log
    Parser       ab
    Reserve_Data On
`
    const dir = tempDir('shipper-parser-filter-')
    cleanup.push(() => dir.cleanup())
    const recv = await startForwardReceiver()
    cleanup.push(() => recv.stop())
    for (const d of ['raw', 'kv']) mkdirSync(join(dir.path, d))
    writeFileSync(join(dir.path, 'raw/a.log'), '{"log":"inner message","lvl":"info"}\n')
    writeFileSync(join(dir.path, 'kv/a.log'), 'x\n')
    writeFileSync(
      join(dir.path, 'parsers.conf'),
      `[PARSER]
    Name   json
    Format json
[PARSER]
    Name   ab
    Format regex
    Regex  ^(?<a>[^,]*)(?:,(?<b>.*))?$
`,
    )
    writeFileSync(
      join(dir.path, 'fluent-bit.conf'),
      `[SERVICE]
    Flush 0.1
    Parsers_File parsers.conf
[INPUT]
    Name tail
    Path ${dir.path}/raw/*.log
    Tag raw
    Read_from_Head On
[INPUT]
    Name tail
    Path ${dir.path}/kv/*.log
    Tag kv
    Read_from_Head On
${filters}
[OUTPUT]
    Name forward
    Match *
    Port ${recv.port}
`,
    )
    await startInProcess(join(dir.path, 'fluent-bit.conf'), cleanup, logger)
    await waitFor(() => recv.events.length >= 2, 10_000, 'two records')
    expect(byTag(recv, 'raw')[0]!.record).toEqual({ log: 'inner message', lvl: 'info' })
    expect(byTag(recv, 'kv')[0]!.record).toEqual({ a: 'x', b: 'original' })
  })
})

describe('Types', () => {
  it('cast as Fluent Bit does: integer/float/hex without a number are 0, bool ignores case, anything else stays', async () => {
    const parsers = `[PARSER]
    Name   apache_typed
    Format regex
    Regex  ^(?<code>\\S+) (?<size>\\S+) (?<ratio>\\S+) (?<id>\\S+) (?<ok>\\S+)$
    Types  code:integer size:integer ratio:float id:hex ok:bool
`
    const recv = await ship({
      parsers,
      inputs: { apache_typed: ['200 - 0.5s 0x1F TRUE', '304 12kB abc zz maybe'] },
      expected: 2,
    })
    expect(recv.events.map((e) => e.record)).toEqual([
      { code: 200, size: 0, ratio: 0.5, id: 31, ok: true },
      { code: 304, size: 12, ratio: 0, id: 0, ok: 'maybe' },
    ])
  })
})

describe('built-in multiline parsers', () => {
  it('cri and docker shape the record as Fluent Bit does (stream, time kept, joined log); Parser is not applied with multiline.parser', async () => {
    const dir = tempDir('shipper-ml-builtin-')
    cleanup.push(() => dir.cleanup())
    const recv = await startForwardReceiver()
    cleanup.push(() => recv.stop())
    const inputs: Record<string, { ml: string; parser?: string; lines: string[] }> = {
      cri: {
        ml: 'cri',
        lines: [
          '2026-11-24T10:00:00.123456789Z stdout P first part ',
          '2026-11-24T10:00:00.223456789Z stdout F and the rest',
          '2026-11-24T10:00:01.5Z stderr F single',
          'not a cri line',
        ],
      },
      docker: {
        ml: 'docker',
        lines: [
          '{"log":"part one ","stream":"stdout","time":"2026-11-24T10:00:02.25Z"}',
          '{"log":"part two\\n","stream":"stdout","time":"2026-11-24T10:00:02.5Z"}',
        ],
      },
      java: {
        ml: 'java',
        parser: 'nginx',
        lines: ['10.0.0.1 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1'],
      },
    }
    let conf = `[SERVICE]
    Flush 0.1
    Parsers_File ${join(FIXTURES, 'parsers.conf')}
`
    for (const [tag, i] of Object.entries(inputs)) {
      mkdirSync(join(dir.path, tag))
      writeFileSync(join(dir.path, tag, 'a.log'), `${i.lines.join('\n')}\n`)
      conf += `[INPUT]
    Name tail
    Path ${dir.path}/${tag}/*.log
    Tag ${tag}
    Read_from_Head On
    multiline.parser ${i.ml}
${i.parser ? `    Parser ${i.parser}\n` : ''}`
    }
    conf += `[OUTPUT]
    Name forward
    Match *
    Port ${recv.port}
`
    writeFileSync(join(dir.path, 'fluent-bit.conf'), conf)
    await startInProcess(join(dir.path, 'fluent-bit.conf'), cleanup, logger)
    await waitFor(() => recv.events.length >= 5, 10_000, 'five records')
    const base = Date.UTC(2026, 10, 24, 10, 0, 0) / 1000
    const cri = byTag(recv, 'cri')
    expect(cri.map((e) => e.record)).toEqual([
      expect.objectContaining({
        time: '2026-11-24T10:00:00.123456789Z',
        stream: 'stdout',
        log: 'first part and the rest',
      }),
      { time: '2026-11-24T10:00:01.5Z', stream: 'stderr', _p: 'F', log: 'single' },
      { log: 'not a cri line' },
    ])
    expect(cri[0]!.time).toBeCloseTo(base + 0.123456789, 6)
    expect(cri[1]!.time).toBe(base + 1.5)
    const docker = byTag(recv, 'docker')
    expect(docker.map((e) => e.record)).toEqual([
      { log: 'part one part two\n', stream: 'stdout', time: '2026-11-24T10:00:02.25Z' },
    ])
    expect(docker[0]!.time).toBe(base + 2.25)
    expect(byTag(recv, 'java').map((e) => e.record)).toEqual([
      { log: '10.0.0.1 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1' },
    ])
  })
})

describe('multiline.parser docker, cri', () => {
  it('joins Docker JSON lines and CRI lines of one file, each into the record Fluent Bit makes', async () => {
    const dir = tempDir('shipper-ml-docker-cri-')
    cleanup.push(() => dir.cleanup())
    const recv = await startForwardReceiver()
    cleanup.push(() => recv.stop())
    mkdirSync(join(dir.path, 'containers'))
    writeFileSync(
      join(dir.path, 'containers/a.log'),
      [
        '{"log":"docker ","stream":"stdout","time":"2026-11-24T10:00:00.5Z"}',
        '2026-11-24T10:00:01.25Z stderr P cri ',
        '{"log":"joined\\n","stream":"stdout","time":"2026-11-24T10:00:02Z"}',
        '2026-11-24T10:00:03Z stderr F joined',
        '',
      ].join('\n'),
    )
    writeFileSync(
      join(dir.path, 'fluent-bit.conf'),
      `[SERVICE]
    Flush 0.1
[INPUT]
    Name tail
    Path ${dir.path}/containers/*.log
    Tag kube.*
    Read_from_Head On
    multiline.parser docker, cri
[OUTPUT]
    Name forward
    Match kube.*
    Port ${recv.port}
`,
    )
    await startInProcess(join(dir.path, 'fluent-bit.conf'), cleanup, logger)
    await waitFor(() => recv.events.length >= 2, 10_000, 'two records')
    const base = Date.UTC(2026, 10, 24, 10, 0, 0) / 1000
    const byLog = Object.fromEntries(recv.events.map((e) => [e.record.log, e]))
    expect(byLog['docker joined\n']!.record).toEqual({
      log: 'docker joined\n',
      stream: 'stdout',
      time: '2026-11-24T10:00:00.5Z',
    })
    expect(byLog['docker joined\n']!.time).toBe(base + 0.5)
    expect(byLog['cri joined']!.record).toMatchObject({ stream: 'stderr', time: '2026-11-24T10:00:01.25Z' })
    expect(byLog['cri joined']!.time).toBe(base + 1.25)
    expect(recv.events).toHaveLength(2)
  })
})

describe("parsers.conf written like Fluent Bit's stock file", () => {
  it('Decode_Field / Decode_Field_As (json, escaped, escaped_utf8, do_next) and /regex/flags load and apply', async () => {
    const parsers = `[PARSER]
    Name         dockerish
    Format       json
    # Command      |     Decoder   | Field | Optional Action
    Decode_Field_As   escaped_utf8   log        do_next
    Decode_Field_As   escaped        log

[PARSER]
    Name         extra
    Format       regex
    Regex        ^(?<level>\\w+) (?<payload>.*)$
    Decode_Field json payload

[PARSER]
    Name         nested
    Format       regex
    Regex        ^(?<level>\\w+) (?<payload>.*)$
    Decode_Field_As json payload

[PARSER]
    Name         slashes
    Format       regex
    Regex        /^(?<word>HELLO) (?<rest>.*)$/i
`
    const recv = await ship({
      parsers,
      inputs: {
        dockerish: ['{"log":"tab\\\\there caf\\\\u00e9","stream":"stdout"}'],
        extra: ['info {"user":"alice","n":1}'],
        nested: ['warn {"user":"bob"}', 'warn not json'],
        slashes: ['hello world'],
      },
      expected: 5,
    })
    expect(byTag(recv, 'dockerish')[0]!.record).toEqual({ log: 'tab\there café', stream: 'stdout' })
    expect(byTag(recv, 'extra')[0]!.record).toEqual({
      level: 'info',
      payload: '{"user":"alice","n":1}',
      user: 'alice',
      n: 1,
    })
    expect(byTag(recv, 'nested').map((e) => e.record)).toEqual([
      { level: 'warn', payload: { user: 'bob' } },
      { level: 'warn', payload: 'not json' },
    ])
    expect(byTag(recv, 'slashes')[0]!.record).toEqual({ word: 'hello', rest: 'world' })
  })
})

describe('the tail input', () => {
  it('waits for a line to end however long its writer takes (a block-buffered writer splits lines)', async () => {
    const dir = tempDir('shipper-partial-')
    cleanup.push(() => dir.cleanup())
    const recv = await startForwardReceiver()
    cleanup.push(() => recv.stop())
    mkdirSync(join(dir.path, 'app'))
    const file = join(dir.path, 'app/a.log')
    writeFileSync(file, 'first\nhalf of a li')
    const shipper = createLogShipper({
      logger,
      registry: new Registry(),
      pipeline: {
        service: { flush: '0.1' },
        pipeline: {
          inputs: [{ name: 'tail', path: `${dir.path}/app/*.log`, tag: 'app', read_from_head: 'on' }],
          outputs: [{ name: 'forward', match: 'app', port: recv.port }],
        },
      },
    })
    await shipper.start()
    cleanup.push(() => shipper.stop(AbortSignal.timeout(2000)))
    await waitFor(() => recv.events.length >= 1, 10_000, 'the first line')
    // Longer than the tail source's own partial-line timeout (1 s), as a slow writer's next block.
    await new Promise((r) => setTimeout(r, 1500))
    appendFileSync(file, 'ne\nlast\n')
    await waitFor(() => recv.events.length >= 3, 10_000, 'three records')
    expect(recv.events.map((e) => e.record.log)).toEqual(['first', 'half of a line', 'last'])
  })
})

describe('Onigmo regex syntax', () => {
  it('POSIX brackets ([[:space:]], [[:digit:]]) match as in Fluent Bit, on the fast and the typed parser', async () => {
    const parsers = `[PARSER]
    Name   posix
    Format regex
    Regex  ^(?<level>[[:upper:]]+)[[:space:]]+(?<code>[[:digit:]]+)[[:space:]]+(?<msg>.*)$

[PARSER]
    Name   posix_typed
    Format regex
    Regex  ^(?<level>[[:upper:]]+)[[:space:]]+(?<code>[[:digit:]]+)[[:space:]]+(?<msg>.*)$
    Types  code:integer
`
    const recv = await ship({
      parsers,
      inputs: { posix: ['WARN\t404  not found'], posix_typed: ['ERROR 500 boom'] },
      expected: 2,
    })
    expect(byTag(recv, 'posix')[0]!.record).toEqual({ level: 'WARN', code: '404', msg: 'not found' })
    expect(byTag(recv, 'posix_typed')[0]!.record).toEqual({ level: 'ERROR', code: 500, msg: 'boom' })
  })
})

describe('the record_modifier filter', () => {
  it('matches Remove_Key and Allowlist_Key without regard to case, and a trailing * as a prefix', async () => {
    const filters = `
[FILTER]
    Name          record_modifier
    Match         js
    Remove_Key    debug_*
    Remove_Key    LEVEL
[FILTER]
    Name          record_modifier
    Match         js2
    Allowlist_Key MSG
    Allowlist_Key user*
    Record        cluster prod
`
    const recv = await ship({
      parsers: '[PARSER]\n    Name js\n    Format json\n[PARSER]\n    Name js2\n    Format json\n',
      filters,
      inputs: {
        js: ['{"msg":"a","level":"info","debug_x":1,"Debug_Y":2,"debugger":3}'],
        js2: ['{"msg":"b","level":"info","user_id":7,"userName":"al","other":1}'],
      },
      expected: 2,
    })
    expect(byTag(recv, 'js')[0]!.record).toEqual({ msg: 'a', debugger: 3 })
    expect(byTag(recv, 'js2')[0]!.record).toEqual({ msg: 'b', user_id: 7, userName: 'al', cluster: 'prod' })
  })
})
