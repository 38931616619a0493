import { describe, expect, it } from 'vitest'
import { RegexInvalidError, TimeFormatError, UnknownParserError } from '../errors.ts'
import { parseLogfmt } from './formats.ts'
import { translateRegex } from './regex.ts'
import { ParserRegistry } from './registry.ts'
import { createSeedParser, normalizeLevel } from './seed.ts'
import { compileTimeFormat, formatIso, resolveZone } from './strptime.ts'

const reg = new ParserRegistry()
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString())

describe('presets on lines written by the real software', () => {
  it('nginx combined log (the seed parsers.conf regex)', () => {
    const r = reg
      .get('nginx')
      .parse(
        '172.17.0.1 - alice [10/Oct/2023:13:55:36 +0200] "GET /api/v1/items?id=7 HTTP/1.1" 200 612 "-" "curl/8.5.0"',
      )
    expect(r?.record).toEqual({
      remote: '172.17.0.1',
      host: '-',
      user: 'alice',
      method: 'GET',
      path: '/api/v1/items?id=7',
      code: '200',
      size: '612',
      referer: '-',
      agent: 'curl/8.5.0',
    })
    expect(iso(r?.time)).toBe('2023-10-10T11:55:36.000Z')
  })

  it('apache common log without referer and agent', () => {
    const r = reg
      .get('apache')
      .parse('192.168.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326')
    expect(r?.record).toMatchObject({
      host: '192.168.0.1',
      user: 'frank',
      method: 'GET',
      path: '/apache_pb.gif',
      code: '200',
    })
    expect(r?.record).not.toHaveProperty('agent')
    expect(iso(r?.time)).toBe('2000-10-10T20:55:36.000Z')
  })

  it('apache2 (agent with spaces) and local syslog without a host', () => {
    const a = reg
      .get('apache2')
      .parse(
        '10.1.1.1 - - [15/Jan/2024:10:30:00 +0000] "POST /login HTTP/1.1" 302 0 "https://x/" "Mozilla/5.0 (X11; Linux x86_64)"',
      )
    expect(a?.record).toMatchObject({
      method: 'POST',
      path: '/login',
      code: '302',
      agent: 'Mozilla/5.0 (X11; Linux x86_64)',
    })
    const s = reg
      .get('syslog-rfc3164-local')
      .parse('<13>Jan 15 10:30:00 sshd[4242]: Accepted publickey for deploy')
    expect(s?.record).toMatchObject({
      pri: '13',
      ident: 'sshd',
      pid: '4242',
      message: 'Accepted publickey for deploy',
    })
  })

  it('apache 2.4 error log', () => {
    const r = reg
      .get('apache_error')
      .parse(
        '[Wed Oct 11 14:32:52.123456 2023] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187:5678] AH00037: Symbolic link not allowed',
      )
    expect(r?.record).toMatchObject({
      level: 'core:error',
      pid: '35708:tid 4328636416',
      client: '72.15.99.187:5678',
      message: 'AH00037: Symbolic link not allowed',
    })
  })

  it('syslog RFC 5424 (with and without fractional seconds)', () => {
    const r = reg
      .get('syslog-rfc5424')
      .parse(
        '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3"] An application event',
      )
    expect(r?.record).toMatchObject({
      pri: '165',
      host: 'mymachine.example.com',
      ident: 'evntslog',
      pid: '-',
      msgid: 'ID47',
      message: 'An application event',
    })
    expect(r?.record.time).toBe('2003-10-11T22:14:15.003Z') // Time_Keep On
    expect(iso(r?.time)).toBe('2003-10-11T22:14:15.003Z')
    const r2 = reg.get('syslog-rfc5424').parse('<34>1 2003-10-11T22:14:15Z host su - - - failed')
    expect(iso(r2?.time)).toBe('2003-10-11T22:14:15.000Z')
  })

  it('syslog RFC 3164 (BSD) takes the current year', () => {
    const r = reg
      .get('syslog-rfc3164')
      .parse("<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8")
    expect(r?.record).toMatchObject({
      pri: '34',
      host: 'mymachine',
      ident: 'su',
      pid: '230',
      message: "'su root' failed for lonvick on /dev/pts/8",
    })
    const t = new Date(r!.time!)
    expect(t.getUTCMonth()).toBe(9)
    expect(t.getUTCDate()).toBe(11)
    expect(r!.time!).toBeLessThanOrEqual(Date.now() + 86_400_000)
  })

  it('klog (Kubernetes components)', () => {
    const r = reg
      .get('klog')
      .parse('E0115 10:30:00.123456    1234 reflector.go:138] Failed to watch *v1.Pod: unauthorized')
    expect(r?.record).toMatchObject({
      level: 'E',
      pid: '1234',
      source: 'reflector.go:138',
      message: 'Failed to watch *v1.Pod: unauthorized',
    })
    const t = new Date(r!.time!)
    expect([t.getUTCMonth(), t.getUTCDate(), t.getUTCHours(), t.getUTCMilliseconds()]).toEqual([
      0, 15, 10, 123,
    ])
  })

  it('CRI and docker json-file lines keep their time field', () => {
    const c = reg.get('cri').parse('2024-01-15T10:30:00.123456789Z stderr F panic: boom')
    expect(c?.record).toEqual({
      time: '2024-01-15T10:30:00.123456789Z',
      stream: 'stderr',
      logtag: 'F',
      message: 'panic: boom',
    })
    expect(iso(c?.time)).toBe('2024-01-15T10:30:00.123Z')
    const d = reg
      .get('docker')
      .parse('{"log":"hello\\n","stream":"stdout","time":"2024-01-15T10:30:00.987654321Z"}')
    expect(d?.record).toMatchObject({ log: 'hello\n', stream: 'stdout' })
    expect(iso(d?.time)).toBe('2024-01-15T10:30:00.987Z')
  })

  it('json, logfmt and ltsv', () => {
    expect(reg.get('json').parse('{"a":1,"b":"x"}')?.record).toEqual({ a: 1, b: 'x' })
    expect(reg.get('json').parse('[1,2]')).toBeUndefined()
    expect(reg.get('json').parse('not json')).toBeUndefined()
    expect(parseLogfmt('level=info msg="hello \\"you\\"" took=3ms debug')).toEqual({
      level: 'info',
      msg: 'hello "you"',
      took: '3ms',
      debug: true,
    })
    expect(parseLogfmt('msg="unterminated')).toBeUndefined()
    expect(reg.get('ltsv').parse('host:127.0.0.1\tstatus:200\treq:GET /a:b HTTP/1.1')?.record).toEqual({
      host: '127.0.0.1',
      status: '200',
      req: 'GET /a:b HTTP/1.1',
    })
  })

  it('an unknown parser name says which exist', () => {
    expect(() => reg.get('nope')).toThrow(UnknownParserError)
    expect(() => reg.get('nope')).toThrow(/nginx/)
  })
})

describe('regex definitions (Fluent Bit syntax)', () => {
  it('translates Onigmo escapes and non-identifier group names', () => {
    const p = new ParserRegistry().define({
      name: 'custom',
      format: 'regex',
      regex: '\\A(?<user-agent>\\S+) (?<id>\\h+) (?<n>\\d+)\\z',
      types: 'n:integer id:hex',
    })
    expect(p.parse('curl/8 ff 42')?.record).toEqual({ 'user-agent': 'curl/8', id: 255, n: 42 })
    expect(p.parse('curl/8 zz 42')).toBeUndefined()
    expect(translateRegex('(?i)^abc$').regex.flags).toContain('i')
  })

  it("reads Onigmo's POSIX brackets inside classes", () => {
    const p = new ParserRegistry().define({
      name: 'posix',
      format: 'regex',
      regex: '^(?<w>[[:alpha:]_]+)[[:space:]]+(?<n>[[:digit:]]+)(?<rest>[^[:digit:]]*)$',
    })
    expect(p.parse('user_id \t 42 ok')?.record).toEqual({ w: 'user_id', n: '42', rest: ' ok' })
    expect(p.parse('a: 1')).toBeUndefined()
    expect(() => translateRegex('[[:nope:]]')).toThrow(RegexInvalidError)
  })

  it('Time_Key / Time_Format / Time_Keep / Time_Offset', () => {
    const def = {
      name: 't',
      format: 'regex',
      regex: '^(?<ts>[^ ]+) (?<msg>.*)$',
      timeKey: 'ts',
      timeFormat: '%Y-%m-%d_%H:%M:%S',
    }
    const p = new ParserRegistry().define(def)
    const r = p.parse('2024-02-29_23:59:58 leap')
    expect(r?.record).toEqual({ msg: 'leap' })
    expect(iso(r?.time)).toBe('2024-02-29T23:59:58.000Z')
    const kept = new ParserRegistry()
      .define({ ...def, timeKeep: true, timeOffset: '+0200' })
      .parse('2024-02-29_23:59:58 x')
    expect(kept?.record.ts).toBe('2024-02-29_23:59:58')
    expect(iso(kept?.time)).toBe('2024-02-29T21:59:58.000Z')
    // An unparsable time keeps the field and gives no event time.
    const bad = p.parse('yesterday x')
    expect(bad?.record).toEqual({ ts: 'yesterday', msg: 'x' })
    expect(bad?.time).toBeUndefined()
  })

  it('rejects what JavaScript cannot do, naming the parser', () => {
    expect(() =>
      new ParserRegistry().define({ name: 'atomic', format: 'regex', regex: '(?>a+)(?<x>b)' }),
    ).toThrow(RegexInvalidError)
    expect(() => new ParserRegistry().define({ name: 'poss', format: 'regex', regex: '(?<x>a++)' })).toThrow(
      /poss.*possessive/,
    )
    expect(() => new ParserRegistry().define({ name: 'none', format: 'regex', regex: '^a$' })).toThrow(
      /no \(\?<name>/,
    )
    expect(() => new ParserRegistry().define({ name: 'broken', format: 'regex', regex: '(?<x>[a' })).toThrow(
      /broken/,
    )
  })
})

describe('strptime', () => {
  it('parses the common formats', () => {
    const cases: Array<[string, string, string]> = [
      ['%d/%b/%Y:%H:%M:%S %z', '10/Oct/2023:13:55:36 -0530', '2023-10-10T19:25:36.000Z'],
      ['%Y-%m-%dT%H:%M:%S.%L%z', '2024-01-15T10:30:00.5+01:00', '2024-01-15T09:30:00.500Z'],
      ['%Y-%m-%dT%H:%M:%S.%L', '2024-01-15T10:30:00.123456Z', '2024-01-15T10:30:00.123Z'],
      ['%a, %d %b %Y %H:%M:%S %Z', 'Mon, 15 Jan 2024 10:30:00 GMT', '2024-01-15T10:30:00.000Z'],
      ['%m/%d/%y %I:%M:%S %p', '01/15/24 01:02:03 PM', '2024-01-15T13:02:03.000Z'],
      ['%s', '1705314600.25', '2024-01-15T10:30:00.250Z'],
      ['%F %T', '2024-01-15 10:30:00', '2024-01-15T10:30:00.000Z'],
    ]
    for (const [fmt, text, want] of cases)
      expect(iso(compileTimeFormat(fmt).parse(text)), `${fmt} ${text}`).toBe(want)
    expect(compileTimeFormat('%Y-%m-%d').parse('2024-13-01')).toBeUndefined()
  })

  it('ignores text after the format only when asked (Fluent Bit), else the whole text must fit (jq)', () => {
    const fmt = '%Y-%m-%dT%H:%M:%S'
    expect(compileTimeFormat(fmt).parse('2024-01-15T10:30:00.123Z')).toBeUndefined()
    const lenient = compileTimeFormat(fmt, 0, { ignoreTrailing: true })
    expect(iso(lenient.parse('2024-01-15T10:30:00.123Z'))).toBe('2024-01-15T10:30:00.000Z')
    expect(iso(lenient.parse('2024-01-15T10:30:00+01:00'))).toBe('2024-01-15T09:30:00.000Z')
    expect(lenient.parse('2024-01-15 10:30:00')).toBeUndefined()
  })

  it('rejects an unknown directive', () => {
    expect(() => compileTimeFormat('%Y %Q')).toThrow(TimeFormatError)
  })

  it('renders ISO 8601 in UTC, an offset and an IANA zone (DST aware)', () => {
    const t = Date.UTC(2024, 6, 1, 12, 0, 0, 7)
    expect(formatIso(t)).toBe('2024-07-01T12:00:00.007Z')
    expect(formatIso(t, 330)).toBe('2024-07-01T17:30:00.007+05:30')
    const berlin = resolveZone('Europe/Berlin')
    expect(berlin.offsetAt(t)).toBe(120)
    expect(berlin.offsetAt(Date.UTC(2024, 0, 1))).toBe(60)
    expect(berlin.fromLocal(Date.UTC(2024, 6, 1, 14, 0))).toBe(Date.UTC(2024, 6, 1, 12, 0))
    expect(() => resolveZone('Mars/Olympus')).toThrow(TimeFormatError)
  })
})

describe('the seed format TIMESTAMP LEVEL MESSAGE', () => {
  const seed = createSeedParser()
  it('parses the seed lines and normalises levels', () => {
    expect(seed.parse('2024-01-15 10:30:00.123 INFO User logged in')).toEqual({
      record: { timestamp: '2024-01-15 10:30:00.123', level: 'info', message: 'User logged in' },
      time: Date.UTC(2024, 0, 15, 10, 30, 0, 123),
    })
    expect(seed.parse('2024-01-15 10:30:00 WARNING disk 91% full')?.record).toMatchObject({
      level: 'warn',
      message: 'disk 91% full',
    })
    expect(seed.parse('2024-01-15T10:30:00,5 [ERROR] boom')?.record).toMatchObject({
      level: 'error',
      message: 'boom',
    })
    expect(seed.parse('2024-01-15 10:30:00.1+02:00 CRITICAL x')?.time).toBe(
      Date.UTC(2024, 0, 15, 8, 30, 0, 100),
    )
    expect(seed.parse('2024-01-15 10:30:00 FATAL')?.record).toMatchObject({ level: 'fatal', message: '' })
  })
  it('keeps a third word that is not a level in the message', () => {
    expect(seed.parse('2024-01-15 10:30:00 Starting 3 workers')?.record).toMatchObject({
      level: 'unknown',
      message: 'Starting 3 workers',
    })
  })
  it('unicode survives; lines that are not the format do not match', () => {
    expect(seed.parse('2024-01-15 10:30:00 INFO 日本語 ✓ émoji 🎉')?.record.message).toBe('日本語 ✓ émoji 🎉')
    expect(seed.parse('garbage line')).toBeUndefined()
    expect(seed.parse('2024-01-15 garbage')).toBeUndefined()
    expect(seed.parse('2024-01-15 10:30:00x INFO y')).toBeUndefined()
  })
  it('interprets zone-less times in the configured zone', () => {
    const p = createSeedParser({ zone: 'America/New_York' })
    expect(p.parse('2024-07-01 08:00:00 INFO x')?.time).toBe(Date.UTC(2024, 6, 1, 12))
  })
  it('level words', () => {
    expect(
      ['WARNING', 'warn', 'Err', 'CRIT', 'notice', 'TRACE', 'dbg', 'E', 'panic'].map(normalizeLevel),
    ).toEqual(['warn', 'warn', 'error', 'fatal', 'info', 'trace', 'debug', 'error', 'fatal'])
    expect(normalizeLevel('hello')).toBeUndefined()
  })
})
