import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger, logDestination, redact, redactUrl } from './logger.ts'

describe('logger', () => {
  it('writes JSON lines with level labels and redacts secrets by key at any depth', () => {
    const lines: string[] = []
    const dest = new Writable({
      write(chunk, _enc, cb) {
        lines.push(chunk.toString())
        cb()
      },
    })
    const logger = createLogger({ name: 'test', destination: dest as never })
    logger.info(
      { db: { user: 'app', password: 'hunter2' }, headers: { authorization: 'Bearer x' } },
      'Connected.',
    )
    const rec = JSON.parse(lines[0]!)
    expect(rec.level).toBe('info')
    expect(rec.service).toBe('test')
    expect(rec.msg).toBe('Connected.')
    expect(rec.db).toEqual({ user: 'app', password: '[redacted]' })
    expect(rec.headers.authorization).toBe('[redacted]')
    expect(lines[0]).not.toContain('hunter2')
  })

  it('redacts passwords in URLs and connection strings', () => {
    expect(redactUrl('postgres://app:s3cret@db:5432/x')).toBe('postgres://app:[redacted]@db:5432/x')
    expect(redactUrl("host=db password='s e c' user=x")).toBe('host=db password=[redacted] user=x')
    expect(redact({ list: [{ apiKey: 'k' }] })).toEqual({ list: [{ apiKey: '[redacted]' }] })
  })
})

describe('logger lines', () => {
  const capture = (level?: 'info' | 'debug' | 'warn') => {
    const lines: string[] = []
    const logger = createLogger({
      name: 'svc',
      version: '1.2.3',
      ...(level ? { level } : {}),
      destination: { write: (s: string) => lines.push(s) },
    })
    return { logger, lines, recs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) }
  }

  it("writes pino's line shape: level label, ISO time, bindings, fields, msg last, one line each", () => {
    const { logger, lines, recs } = capture()
    logger.info({ port: 9113, nested: { a: [1, 2] } }, 'Listening.')
    logger.warn('plain text with "quotes"\nand a newline')
    expect(lines).toHaveLength(2)
    for (const l of lines) expect(l.endsWith('}\n') && l.indexOf('\n') === l.length - 1).toBe(true)
    expect(Object.keys(recs()[0]!)).toEqual(['level', 'time', 'service', 'version', 'port', 'nested', 'msg'])
    expect(recs()[0]).toMatchObject({
      level: 'info',
      service: 'svc',
      version: '1.2.3',
      port: 9113,
      msg: 'Listening.',
    })
    expect(new Date(recs()[0]!.time as string).toISOString()).toBe(recs()[0]!.time)
    expect(recs()[1]).toMatchObject({ level: 'warn', msg: 'plain text with "quotes"\nand a newline' })
  })

  it('honours the level, can change it, and says which levels are enabled', () => {
    const { logger, recs } = capture('warn')
    logger.info('dropped')
    logger.debug({ x: 1 }, 'dropped')
    logger.error('kept')
    expect(recs().map((r) => r.msg)).toEqual(['kept'])
    expect(logger.isLevelEnabled('info')).toBe(false)
    expect(logger.isLevelEnabled('warn')).toBe(true)
    logger.level = 'debug'
    logger.debug('now kept')
    expect(logger.isLevelEnabled('debug')).toBe(true)
    expect(recs().map((r) => r.msg)).toEqual(['kept', 'now kept'])
    logger.level = 'silent'
    logger.fatal('silenced')
    expect(logger.isLevelEnabled('fatal')).toBe(false)
    expect(recs()).toHaveLength(2)
    expect(() => {
      logger.level = 'loud'
    }).toThrow(/unknown log level "loud"/)
  })

  it('serializes errors (type, message, stack, code, cause) under err, and an Error given first', () => {
    const { logger, recs } = capture()
    const cause = new RangeError('inner')
    const err = Object.assign(new TypeError('outer', { cause }), { code: 'E_OUTER', password: 'hunter2' })
    logger.error({ err }, 'Failed.')
    logger.error(new Error('bare'))
    const [a, b] = recs()
    expect(a!.err).toMatchObject({
      type: 'TypeError',
      message: 'outer',
      code: 'E_OUTER',
      password: '[redacted]',
    })
    expect((a!.err as { stack: string }).stack).toContain('TypeError: outer')
    expect((a!.err as { cause: unknown }).cause).toMatchObject({ type: 'RangeError', message: 'inner' })
    expect(b).toMatchObject({ msg: 'bare', err: { type: 'Error', message: 'bare' } })
  })

  it('survives cycles and BigInts in fields rather than losing the line', () => {
    const { logger, recs } = capture()
    const loop: Record<string, unknown> = { name: 'loop' }
    loop.self = loop
    logger.info({ loop, big: 10n }, 'Odd fields.')
    const rec = recs()[0]!
    expect(rec.msg).toBe('Odd fields.')
    expect(rec.big).toBe('10')
    expect(JSON.stringify(rec)).toContain('[Circular]')
  })

  it('gives children their bindings and the parent its own, on the same destination', () => {
    const { logger, recs } = capture()
    const child = logger.child({ target: 'a' })
    child.info('from child')
    logger.info('from parent')
    expect(recs()[0]).toMatchObject({ service: 'svc', target: 'a', msg: 'from child' })
    expect(recs()[1]!.target).toBeUndefined()
    expect(child.bindings()).toEqual({ service: 'svc', version: '1.2.3', target: 'a' })
    expect(logDestination(child)).toBe(logDestination(logger))
  })
})
