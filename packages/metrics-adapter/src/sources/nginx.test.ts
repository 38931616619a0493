import { describe, expect, it } from 'vitest'
import { ParseError } from '../errors.ts'
import { nginxSource, parseStubStatus } from './nginx.ts'

// Exactly what nginx 1.22 writes (trailing spaces included).
const STUB =
  'Active connections: 291 \nserver accepts handled requests\n 16630948 16630946 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n'

describe('stub_status parser', () => {
  it('reads every number', () => {
    expect(parseStubStatus(Buffer.from(STUB))).toEqual({
      active: 291,
      accepted: 16630948,
      handled: 16630946,
      requests: 31070465,
      reading: 6,
      writing: 179,
      waiting: 106,
    })
  })

  it('tolerates Tengine extra columns, CRLF and no trailing spaces', () => {
    const tengine =
      'Active connections: 2\r\nserver accepts handled requests request_time\r\n 10 9 30 1234\r\nReading: 0 Writing: 1 Waiting: 1\r\n'
    expect(parseStubStatus(Buffer.from(tengine))).toMatchObject({
      accepted: 10,
      handled: 9,
      requests: 30,
      waiting: 1,
    })
  })

  it('maps onto the exporter families in order', () => {
    const samples = nginxSource.parse(Buffer.from(STUB))
    const byName = Object.fromEntries(samples.map((s) => [nginxSource.families[s.family]!.name, s.value]))
    expect(byName).toEqual({
      nginx_connections_accepted: 16630948,
      nginx_connections_active: 291,
      nginx_connections_handled: 16630946,
      nginx_connections_reading: 6,
      nginx_connections_waiting: 106,
      nginx_connections_writing: 179,
      nginx_http_requests_total: 31070465,
    })
  })

  it.each([
    ['an HTML error page', '<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>'],
    ['garbage', 'garbage\n'],
    ['an empty body', ''],
    ['a truncated page', 'Active connections: 1 \nserver accepts handled requests\n 1 1 '],
    [
      'letters for a number',
      'Active connections: x \nserver accepts handled requests\n 1 1 1 \nReading: 0 Writing: 1 Waiting: 0 \n',
    ],
    [
      'a number glued to letters',
      'Active connections: 12ab \nserver accepts handled requests\n 1 1 1 \nReading: 0 Writing: 1 Waiting: 0 \n',
    ],
    [
      'a missing Waiting',
      'Active connections: 1 \nserver accepts handled requests\n 1 1 1 \nReading: 0 Writing: 1\n',
    ],
  ])('rejects %s with a ParseError', (_what, body) => {
    expect(() => parseStubStatus(Buffer.from(body))).toThrow(ParseError)
  })

  it('names what is missing and shows the start of the body', () => {
    expect(() => parseStubStatus(Buffer.from('<html>oops</html>'))).toThrow(/Active connections.*<html>oops/)
  })
})
