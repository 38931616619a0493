import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger, redact, redactUrl } from './logger.ts'

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
