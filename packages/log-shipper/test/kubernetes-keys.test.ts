// Keys common Kubernetes configs of Fluent Bit carry, end to end through a classic config (tail ->
// parser -> filters -> forward receiver): Tag_Regex, Ignore_Older, DB.journal_mode, the modify
// filter's Condition, a parser's Time_Strict, and positions that survive the volume coming back
// under another device number.

import { appendFileSync, mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createLogger, Registry } from '@podkit/runtime'
import { tempDir, waitFor } from '@podkit/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogShipper, type LogShipper } from '../src/index.ts'
import { type ForwardReceiver, startForwardReceiver } from './fakes/forward-receiver.ts'
import { startEsFake } from './fakes/http-fakes.ts'
import { startInProcess } from './helpers.ts'

let cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const c of cleanup.reverse()) await c()
  cleanup = []
})

interface Run {
  dir: string
  recv: ForwardReceiver
  shipper: LogShipper
  warnings: string[]
}

/** Writes files under a temp dir, then runs `conf` (with `@DIR@` and `@PORT@` filled in) to a forward receiver. */
async function run(opts: {
  files?: (dir: string) => void
  conf: string
  parsers?: string
  expected: number
}): Promise<Run> {
  const d = tempDir('shipper-k8s-keys-')
  cleanup.push(() => d.cleanup())
  const dir = d.path
  const recv = await startForwardReceiver()
  cleanup.push(() => recv.stop())
  opts.files?.(dir)
  const fill = (t: string) => t.replaceAll('@DIR@', dir).replaceAll('@PORT@', String(recv.port))
  writeFileSync(join(dir, 'parsers.conf'), fill(opts.parsers ?? ''))
  writeFileSync(
    join(dir, 'fluent-bit.conf'),
    `[SERVICE]
    Flush 0.1
    Parsers_File parsers.conf
${fill(opts.conf)}
[OUTPUT]
    Name forward
    Match *
    Port ${recv.port}
    Require_ack_response On
`,
  )
  const warnings: string[] = []
  const logger = createLogger({ name: 'test', level: 'warn' })
  // Collect the start-up warnings (a no-effect key must be named) without printing them.
  logger.warn = ((...args: unknown[]) => {
    warnings.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '))
  }) as typeof logger.warn
  const shipper = await startInProcess(join(dir, 'fluent-bit.conf'), cleanup, logger)
  await waitFor(() => recv.events.length >= opts.expected, 10_000, `${opts.expected} records`)
  return { dir, recv, shipper, warnings }
}

const POD_FILE = (pod: string, ns: string, container: string) =>
  `${pod}_${ns}_${container}-${'0123456789abcdef'.repeat(4)}.log`

describe('tail keys of Kubernetes configs', () => {
  it('Tag_Regex fills the Tag from named captures of the path; a file it does not match is not followed', async () => {
    const r = await run({
      files: (dir) => {
        mkdirSync(join(dir, 'containers'))
        writeFileSync(join(dir, 'containers', POD_FILE('web-7d9f', 'shop', 'nginx')), 'from nginx\n')
        writeFileSync(join(dir, 'containers', POD_FILE('api-1', 'billing', 'app')), 'from app\n')
        writeFileSync(join(dir, 'containers', 'not-a-pod.log'), 'no tag for me\n')
      },
      conf: `[INPUT]
    Name tail
    Path @DIR@/containers/*.log
    Tag_Regex (?<pod_name>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)_(?<namespace_name>[^_]+)_(?<container_name>.+)-(?<docker_id>[a-z0-9]{64})\\.log$
    Tag kube.<namespace_name>.<pod_name>.<container_name>.<no_such_group>
    Read_from_Head On
`,
      expected: 2,
    })
    // The file Tag_Regex does not match is not followed at all, as in Fluent Bit's tail.
    const followed = r.shipper.engine.inputs[0]!.source.files().map((f) => f.path.split('/').pop())
    expect(followed.sort()).toEqual([
      POD_FILE('api-1', 'billing', 'app'),
      POD_FILE('web-7d9f', 'shop', 'nginx'),
    ])
    expect(r.recv.events.map((e) => [e.tag, e.record.log]).sort()).toEqual([
      ['kube.billing.api-1.app._', 'from app'],
      ['kube.shop.web-7d9f.nginx._', 'from nginx'],
    ])
  })

  it('a Tag_Regex tag gives the kubernetes filter its metadata through Regex_Parser (the docs custom-tag example)', async () => {
    const r = await run({
      files: (dir) => {
        mkdirSync(join(dir, 'containers'))
        writeFileSync(join(dir, 'containers', POD_FILE('web-7d9f', 'shop', 'nginx')), 'from nginx\n')
      },
      parsers: `[PARSER]
    Name    custom-tag
    Format  regex
    Regex   ^(?<namespace_name>[^_]+)\\.(?<pod_name>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)\\.(?<container_name>.+)$
`,
      conf: `[INPUT]
    Name tail
    Path @DIR@/containers/*.log
    Tag_Regex (?<pod_name>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)_(?<namespace_name>[^_]+)_(?<container_name>.+)-(?<docker_id>[a-z0-9]{64})\\.log$
    Tag kube.<namespace_name>.<pod_name>.<container_name>
    Read_from_Head On

[FILTER]
    Name kubernetes
    Match kube.*
    Kube_Tag_Prefix kube.
    Regex_Parser custom-tag
    Use_Kubelet On
    Kubelet_Port 10250
    Kube_Meta_Cache_TTL 300s
`,
      expected: 1,
    })
    // How Fluent Bit would reach the kubelet changes nothing here (no API is called): warned, not refused.
    for (const k of ['use_kubelet', 'kubelet_port', 'kube_meta_cache_ttl'])
      expect(r.warnings.some((w) => w.includes(`${k} is accepted`))).toBe(true)
    expect(r.recv.events.map((e) => [e.tag, e.record])).toEqual([
      [
        'kube.shop.web-7d9f.nginx',
        {
          log: 'from nginx',
          kubernetes: { namespace_name: 'shop', pod_name: 'web-7d9f', container_name: 'nginx' },
        },
      ],
    ])
  })

  it('Ignore_Older leaves files last changed longer ago alone; DB.journal_mode is accepted with a warning', async () => {
    const r = await run({
      files: (dir) => {
        writeFileSync(join(dir, 'old.log'), 'rotated away two days ago\n')
        const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000)
        utimesSync(join(dir, 'old.log'), twoDaysAgo, twoDaysAgo)
        writeFileSync(join(dir, 'new.log'), 'fresh\n')
      },
      conf: `[INPUT]
    Name tail
    Path @DIR@/*.log
    Tag app
    Ignore_Older 1d
    DB @DIR@/pos.db
    DB.journal_mode WAL
    Read_from_Head On
`,
      expected: 1,
    })
    const followed = r.shipper.engine.inputs[0]!.source.files().map((f) => f.path.split('/').pop())
    expect(followed).toEqual(['new.log'])
    expect(r.recv.events.map((e) => e.record.log)).toEqual(['fresh'])
    expect(r.warnings.some((w) => w.includes('db.journal_mode is accepted'))).toBe(true)
  })

  it('a position saved under another device number is taken up when path and inode match, and only then', async () => {
    // The positions file as a pod left it before its volume came back under device 999999: a.log
    // was read up to its second line; the entry for b.log's inode names another path (a file with
    // the same inode number on another device), so b.log is read from its start.
    const r = await run({
      files: (dir) => {
        mkdirSync(join(dir, 'a'))
        mkdirSync(join(dir, 'b'))
        writeFileSync(join(dir, 'a', 'a.log'), 'a1\na2\na3\n')
        writeFileSync(join(dir, 'b', 'b.log'), 'b1\nb2\n')
        const ino = (p: string) => statSync(join(dir, p)).ino
        writeFileSync(
          join(dir, 'pos.db'),
          JSON.stringify({
            version: 1,
            files: {
              [`999999:${ino('a/a.log')}`]: { path: join(dir, 'a', 'a.log'), offset: 6 },
              [`999999:${ino('b/b.log')}`]: { path: join(dir, 'elsewhere', 'b.log'), offset: 3 },
            },
          }),
        )
      },
      conf: `[INPUT]
    Name tail
    Path @DIR@/a/*.log, @DIR@/b/*.log
    Tag app
    DB @DIR@/pos.db
    Read_from_Head On
`,
      expected: 3,
    })
    appendFileSync(join(r.dir, 'a', 'a.log'), 'a4\n')
    await waitFor(() => r.recv.events.some((e) => e.record.log === 'a4'), 10_000, 'a4')
    const logs = (p: string) =>
      r.recv.events.map((e) => e.record.log as string).filter((l) => l.startsWith(p))
    expect(logs('a')).toEqual(['a3', 'a4'])
    expect(logs('b')).toEqual(['b1', 'b2'])
  })
})

describe('tail Multiline On (the old multiline of 1.x configs)', () => {
  it('joins continuation lines to the last field of Parser_Firstline, takes Parser_N fields, ships lines before a first line raw', async () => {
    const r = await run({
      files: (dir) =>
        writeFileSync(
          join(dir, 'app.log'),
          [
            'before any first line',
            '2026-11-24 10:00:00 ERROR boom',
            '    at com.shop.Cart.add(Cart.java:42)',
            '    at com.shop.Api.post(Api.java:7)',
            '  code=42',
            '  after the code line',
            '2026-11-24 10:00:01 INFO next',
            '',
          ].join('\n'),
        ),
      parsers: `[PARSER]
    Name first
    Format regex
    Regex /^(?<time>\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}) (?<level>[A-Z]+) (?<message>.*)/
    Time_Key time
    Time_Format %Y-%m-%d %H:%M:%S

[PARSER]
    Name code
    Format regex
    Regex ^\\s+code=(?<code>\\d+)$
`,
      conf: `[INPUT]
    Name tail
    Path @DIR@/app.log
    Tag app
    Multiline On
    Parser_Firstline first
    Parser_1 code
    Multiline_Flush 1
    Read_from_Head On
`,
      expected: 3,
    })
    expect(r.warnings.some((w) => w.includes('Multiline On is not applied'))).toBe(false)
    expect(r.recv.events.map((e) => [e.time, e.record])).toEqual([
      [expect.any(Number), { log: 'before any first line' }],
      [
        Date.UTC(2026, 10, 24, 10) / 1000,
        {
          level: 'ERROR',
          message: 'boom\n    at com.shop.Cart.add(Cart.java:42)\n    at com.shop.Api.post(Api.java:7)',
          code: '42\n  after the code line',
        },
      ],
      [Date.UTC(2026, 10, 24, 10, 0, 1) / 1000, { level: 'INFO', message: 'next' }],
    ])
  })
})

describe('tail Multiline On with Parser', () => {
  it('parses every line with Parser and warns, as Fluent Bit applies Parser before the old multiline', async () => {
    const r = await run({
      files: (dir) => writeFileSync(join(dir, 'app.log'), '2026-11-24 ERROR boom\n    at frame\n'),
      parsers: `[PARSER]
    Name first
    Format regex
    Regex ^(?<day>\\S+) (?<level>[A-Z]+) (?<message>.*)$
`,
      conf: `[INPUT]
    Name tail
    Path @DIR@/app.log
    Tag app
    Parser first
    Multiline On
    Parser_Firstline first
    Read_from_Head On
`,
      expected: 2,
    })
    expect(r.recv.events.map((e) => e.record)).toEqual([
      { day: '2026-11-24', level: 'ERROR', message: 'boom' },
      { log: '    at frame' },
    ])
    expect(r.warnings.some((w) => w.includes('Multiline On is not applied when Parser is set'))).toBe(true)
  })
})

describe('tail Docker_Mode On', () => {
  it('joins json-file lines Docker split (a log without its newline) before Parser reads them', async () => {
    const line = (log: string, time: string) => JSON.stringify({ log, stream: 'stdout', time })
    const r = await run({
      files: (dir) =>
        writeFileSync(
          join(dir, 'c.log'),
          `${[
            line('a long line split by Docker, ', '2026-11-24T10:00:00.000000001Z'),
            line('its end\n', '2026-11-24T10:00:00.000000002Z'),
            line('whole\n', '2026-11-24T10:00:01.5Z'),
          ].join('\n')}\n`,
        ),
      parsers: `[PARSER]
    Name docker
    Format json
    Time_Key time
    Time_Format %Y-%m-%dT%H:%M:%S.%L
    Time_Keep On
`,
      conf: `[INPUT]
    Name tail
    Path @DIR@/c.log
    Parser docker
    Tag app
    Docker_Mode On
    Docker_Mode_Flush 1
    Read_from_Head On
`,
      expected: 2,
    })
    expect(r.recv.events.map((e) => e.record.log)).toEqual([
      'a long line split by Docker, its end\n',
      'whole\n',
    ])
    expect(r.recv.events[1]!.time).toBe(Date.UTC(2026, 10, 24, 10, 0, 1, 500) / 1000)
  })
})

describe('nest filter', () => {
  it('lifts a map to the top level with Add_prefix and nests keys by Wildcard with Remove_prefix, as filter_nest does', async () => {
    const lines = [
      { log: 'lift me', kubernetes: { pod_name: 'web-1', namespace_name: 'shop' }, level: 'info' },
      { log: 'not a map', kubernetes: 'plain' },
    ]
    const r = await run({
      files: (dir) =>
        writeFileSync(join(dir, 'a.log'), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`),
      parsers: `[PARSER]
    Name json
    Format json
`,
      conf: `[INPUT]
    Name tail
    Path @DIR@/a.log
    Parser json
    Tag kube.app
    Read_from_Head On

[FILTER]
    Name nest
    Match kube.*
    Operation lift
    Nested_under kubernetes
    Add_prefix kubernetes_

[FILTER]
    Name nest
    Match kube.*
    Operation nest
    Wildcard kubernetes_*
    Wildcard level
    Nest_under k8s
    Remove_prefix kubernetes_
`,
      expected: 2,
    })
    const [first, second] = r.recv.events.map((e) => e.record)
    expect(first).toEqual({
      log: 'lift me',
      k8s: { level: 'info', pod_name: 'web-1', namespace_name: 'shop' },
    })
    // Key order as Fluent Bit packs it: the keys that stay, then the moved ones.
    expect(Object.keys(first!)).toEqual(['log', 'k8s'])
    expect(second).toEqual({ log: 'not a map', kubernetes: 'plain' })
  })

  it('refuses Add_prefix with Remove_prefix, and an Operation other than nest or lift', () => {
    const d = tempDir('shipper-k8s-nest-')
    cleanup.push(() => d.cleanup())
    writeFileSync(
      join(d.path, 'fluent-bit.conf'),
      `[INPUT]
    Name tail
    Path ${d.path}/*.log

[FILTER]
    Name nest
    Match *
    Operation lift
    Nested_under kubernetes
    Add_prefix a_
    Remove_prefix b_

[FILTER]
    Name nest
    Match *
    Operation flatten
    Nested_under kubernetes
`,
    )
    expect(() =>
      createLogShipper({
        logger: createLogger({ name: 'test', level: 'silent' }),
        registry: new Registry(),
        pipeline: join(d.path, 'fluent-bit.conf'),
      }),
    ).toThrow(/:11: Add_prefix and Remove_prefix are exclusive[\s\S]*:16: Operation must be nest or lift/)
  })
})

describe('opensearch output', () => {
  it('is taken as Fluent Bit takes it: the _bulk protocol and keys of the es output', async () => {
    const es = await startEsFake()
    cleanup.push(() => es.stop())
    await run({
      files: (dir) => writeFileSync(join(dir, 'a.log'), 'to opensearch\n'),
      conf: `[INPUT]
    Name tail
    Path @DIR@/a.log
    Tag app
    Read_from_Head On

[OUTPUT]
    Name opensearch
    Match app
    Host 127.0.0.1
    Port ${es.port}
    Index app-logs
    Suppress_Type_Name On
`,
      expected: 1,
    })
    await waitFor(() => es.docs.length >= 1, 10_000, 'the document')
    expect(es.docs.map((d) => [d.index, d.doc.log])).toEqual([['app-logs', 'to opensearch']])
  })
})

describe('modify Condition', () => {
  it('applies the rules only when every condition holds, as filter_modify evaluates them', async () => {
    const lines = [
      { level: 'error', msg: 'disk full', kubernetes: { labels: { app: 'web' } } },
      { level: 'error', msg: 'no app label', kubernetes: { labels: {} } },
      { level: 'info', msg: 'fine', kubernetes: { labels: { app: 'web' } } },
      { level: 'Warning', msg: 'a warn', code: 200 },
      { level: 'debug', msg: 'has a secret', password: 'x' },
      { level: 'debug', msg: 'flag true', ok: true },
    ]
    const r = await run({
      files: (dir) =>
        writeFileSync(join(dir, 'a.log'), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`),
      parsers: `[PARSER]
    Name json
    Format json
`,
      conf: `[INPUT]
    Name tail
    Path @DIR@/a.log
    Parser json
    Tag app
    Read_from_Head On

[FILTER]
    Name modify
    Match *
    Condition Key_value_equals level error
    Condition Key_exists $kubernetes['labels']['app']
    Set page on-call

[FILTER]
    Name modify
    Match *
    Condition Key_value_matches level (?i)^warn
    Condition Key_value_does_not_equal code 200
    Set numeric_200_is_not_the_string_200 yes

[FILTER]
    Name modify
    Match *
    Condition A_key_matches ^pass
    Remove password
    Add redacted true

[FILTER]
    Name modify
    Match *
    Condition Key_value_matches ok ^true$
    Condition Key_does_not_exist code
    Condition Key_value_does_not_match msg "^fine"
    Rename msg message
`,
      expected: lines.length,
    })
    const by = (msg: string) =>
      r.recv.events.map((e) => e.record).find((x) => x.msg === msg || x.message === msg)
    expect(by('disk full')!.page).toBe('on-call')
    expect(by('no app label')!.page).toBeUndefined()
    expect(by('fine')!.page).toBeUndefined()
    // Key_value_does_not_equal compares strings: the number 200 is not "200", so it holds.
    expect(by('a warn')!.numeric_200_is_not_the_string_200).toBe('yes')
    expect(by('has a secret')).toEqual({ level: 'debug', msg: 'has a secret', redacted: 'true' })
    // A boolean is matched as its name; the other three records lack ok or have code.
    expect(by('flag true')).toEqual({ level: 'debug', message: 'flag true', ok: true })
    expect(by('fine')).toHaveProperty('msg')
  })

  it('refuses at start a condition Fluent Bit refuses (unknown type, a fourth word), naming file and line', async () => {
    const d = tempDir('shipper-k8s-cond-')
    cleanup.push(() => d.cleanup())
    writeFileSync(
      join(d.path, 'fluent-bit.conf'),
      `[INPUT]
    Name tail
    Path ${d.path}/*.log

[FILTER]
    Name modify
    Match *
    Condition Key_value_is level error
    Set a b

[FILTER]
    Name modify
    Match *
    Condition Key_value_equals msg hello world
    Set a b
`,
    )
    expect(() =>
      createLogShipper({
        logger: createLogger({ name: 'test', level: 'silent' }),
        registry: new Registry(),
        pipeline: join(d.path, 'fluent-bit.conf'),
      }),
    ).toThrow(
      /fluent-bit\.conf:8: Condition Key_value_is level error: unknown condition type[\s\S]*fluent-bit\.conf:14: /,
    )
  })
})

describe('parser Time_Strict', () => {
  it('Off takes the time from what Time_Format read before the text ended; On (the default) keeps the read time', async () => {
    const parser = (name: string, strict: string) => `[PARSER]
    Name ${name}
    Format regex
    Regex ^(?<time>\\S+) (?<msg>.*)$
    Time_Key time
    Time_Format %Y-%m-%dT%H:%M:%S %z
${strict}
`
    const before = Date.now() / 1000
    const r = await run({
      files: (dir) => {
        writeFileSync(join(dir, 'lenient.log'), '2026-11-24T10:00:00 no zone written\n')
        writeFileSync(join(dir, 'strict.log'), '2026-11-24T10:00:00 no zone written\n')
      },
      parsers: parser('lenient', '    Time_Strict Off') + parser('strict', ''),
      conf: `[INPUT]
    Name tail
    Path @DIR@/lenient.log
    Parser lenient
    Tag lenient
    Read_from_Head On

[INPUT]
    Name tail
    Path @DIR@/strict.log
    Parser strict
    Tag strict
    Read_from_Head On
`,
      expected: 2,
    })
    const lenient = r.recv.events.find((e) => e.tag === 'lenient')!
    expect([lenient.time, lenient.record]).toEqual([
      Date.UTC(2026, 10, 24, 10) / 1000,
      { msg: 'no zone written' },
    ])
    const strict = r.recv.events.find((e) => e.tag === 'strict')!
    expect(strict.record).toEqual({ time: '2026-11-24T10:00:00', msg: 'no zone written' })
    expect(strict.time).toBeGreaterThanOrEqual(Math.floor(before))
  })
})
