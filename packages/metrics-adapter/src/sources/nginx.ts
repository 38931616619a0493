// nginx's stub_status page (https://nginx.org/en/docs/http/ngx_http_stub_status_module.html)
// as nginx-prometheus-exporter exposes it: the same names, types and HELP text. The parser works
// on the Buffer (it runs on every scrape) and tolerates extra columns (Tengine's request_time)
// and trailing spaces.

import { ParseError } from '../errors.ts'
import { preview, type Sample, type Source } from '../source.ts'

// Alphabetical, as the exporter (client_golang) prints them.
const families = [
  { name: 'nginx_connections_accepted', type: 'counter', help: 'Accepted client connections' },
  { name: 'nginx_connections_active', type: 'gauge', help: 'Active client connections' },
  { name: 'nginx_connections_handled', type: 'counter', help: 'Handled client connections' },
  {
    name: 'nginx_connections_reading',
    type: 'gauge',
    help: 'Connections where NGINX is reading the request header',
  },
  { name: 'nginx_connections_waiting', type: 'gauge', help: 'Idle client connections' },
  {
    name: 'nginx_connections_writing',
    type: 'gauge',
    help: 'Connections where NGINX is writing the response back to the client',
  },
  { name: 'nginx_http_requests_total', type: 'counter', help: 'Total http requests' },
] as const

enum F {
  Accepted = 0,
  Active = 1,
  Handled = 2,
  Reading = 3,
  Waiting = 4,
  Writing = 5,
  Requests = 6,
}

const ACTIVE = Buffer.from('Active connections:')
const SERVER = Buffer.from('server accepts handled requests')
const READING = Buffer.from('Reading:')
const WRITING = Buffer.from('Writing:')
const WAITING = Buffer.from('Waiting:')
const MAX_BODY = 64 * 1024

/** The stub_status numbers, in the order of `families`. */
export interface StubStatus {
  active: number
  accepted: number
  handled: number
  requests: number
  reading: number
  writing: number
  waiting: number
}

export function parseStubStatus(body: Buffer): StubStatus {
  if (body.length > MAX_BODY) throw new ParseError(`the body is ${body.length} bytes: not a stub_status page`)
  const a = body.indexOf(ACTIVE)
  if (a === -1) throw notStub(body, 'Active connections')
  const active = readNumber(body, a + ACTIVE.length, 'Active connections')
  const s = body.indexOf(SERVER, active.end)
  if (s === -1) throw notStub(body, 'server accepts handled requests')
  // The numbers are on the next line; the header line may carry extra column names (Tengine).
  const nl = body.indexOf(10, s + SERVER.length)
  if (nl === -1) throw notStub(body, 'the accepts/handled/requests line')
  const accepted = readNumber(body, nl + 1, 'accepts')
  const handled = readNumber(body, accepted.end, 'handled')
  const requests = readNumber(body, handled.end, 'requests')
  const r = body.indexOf(READING, requests.end)
  if (r === -1) throw notStub(body, 'Reading')
  const reading = readNumber(body, r + READING.length, 'Reading')
  const w = body.indexOf(WRITING, reading.end)
  if (w === -1) throw notStub(body, 'Writing')
  const writing = readNumber(body, w + WRITING.length, 'Writing')
  const i = body.indexOf(WAITING, writing.end)
  if (i === -1) throw notStub(body, 'Waiting')
  const waiting = readNumber(body, i + WAITING.length, 'Waiting')
  return {
    active: active.value,
    accepted: accepted.value,
    handled: handled.value,
    requests: requests.value,
    reading: reading.value,
    writing: writing.value,
    waiting: waiting.value,
  }
}

/** Skips spaces and tabs, then reads an unsigned decimal integer. */
function readNumber(buf: Buffer, from: number, what: string): { value: number; end: number } {
  let i = from
  while (i < buf.length && (buf[i] === 32 || buf[i] === 9)) i++
  const start = i
  let value = 0
  while (i < buf.length) {
    const c = buf[i]!
    if (c < 48 || c > 57) break
    value = value * 10 + (c - 48)
    i++
  }
  if (i === start) {
    throw new ParseError(
      `stub_status: expected a number for ${what}, got ${JSON.stringify(buf.subarray(start, start + 20).toString('latin1'))}`,
    )
  }
  // a number glued to letters ("12abc") is not a number
  if (i < buf.length && buf[i] !== 32 && buf[i] !== 9 && buf[i] !== 10 && buf[i] !== 13) {
    throw new ParseError(
      `stub_status: expected a number for ${what}, got ${JSON.stringify(buf.subarray(start, i + 1).toString('latin1'))}`,
    )
  }
  return { value, end: i }
}

function notStub(body: Buffer, missing: string): ParseError {
  return new ParseError(`not a stub_status page: no "${missing}" (body starts ${preview(body)})`)
}

export const nginxSource: Source = {
  name: 'nginx',
  families,
  up: { name: 'nginx_up', type: 'gauge', help: 'Status of the last metric scrape' },
  parse(body: Buffer): Sample[] {
    const s = parseStubStatus(body)
    return [
      { family: F.Accepted, value: s.accepted },
      { family: F.Active, value: s.active },
      { family: F.Handled, value: s.handled },
      { family: F.Reading, value: s.reading },
      { family: F.Waiting, value: s.waiting },
      { family: F.Writing, value: s.writing },
      { family: F.Requests, value: s.requests },
    ]
  },
}
