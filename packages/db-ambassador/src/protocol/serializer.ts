// The one serializer: builds the messages the pooler itself sends (its own errors, login replies,
// admin console results, and the few requests it makes of a server). Forwarded traffic never
// passes through here.

import { AuthCode, Backend, Frontend, StartupCode, type TxStatus } from './message-types.ts'

/** A typed message: type byte, int32 length, body. */
export function message(type: number, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body
  const out = Buffer.allocUnsafe(5 + b.length)
  out[0] = type
  out.writeInt32BE(4 + b.length, 1)
  b.copy(out, 5)
  return out
}

const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8')
const int32 = (n: number) => {
  const b = Buffer.allocUnsafe(4)
  b.writeInt32BE(n)
  return b
}
const int16 = (n: number) => {
  const b = Buffer.allocUnsafe(2)
  b.writeInt16BE(n)
  return b
}

export interface ErrorFields {
  severity?: 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'LOG'
  code: string
  message: string
  detail?: string
  hint?: string
}

function fields(f: ErrorFields): Buffer {
  const sev = f.severity ?? 'ERROR'
  const parts = [`S${sev}\0`, `V${sev}\0`, `C${f.code}\0`, `M${f.message}\0`]
  if (f.detail) parts.push(`D${f.detail}\0`)
  if (f.hint) parts.push(`H${f.hint}\0`)
  return Buffer.from(`${parts.join('')}\0`, 'utf8')
}

export const errorResponse = (f: ErrorFields) => message(Backend.ErrorResponse, fields(f))
export const noticeResponse = (f: ErrorFields) =>
  message(Backend.NoticeResponse, fields({ severity: 'NOTICE', ...f }))
export const readyForQuery = (status: TxStatus) => message(Backend.ReadyForQuery, Buffer.from([status]))
export const parameterStatus = (name: string, value: string) =>
  message(Backend.ParameterStatus, Buffer.concat([cstr(name), cstr(value)]))
export const backendKeyData = (pid: number, key: number) =>
  message(Backend.BackendKeyData, Buffer.concat([int32(pid), int32(key)]))
/** `head` (AuthenticationOk and ParameterStatus messages) + BackendKeyData + ReadyForQuery 'I', in one buffer. */
export function welcomeTail(head: Buffer, pid: number, key: number): Buffer {
  const b = Buffer.allocUnsafe(head.length + 19)
  head.copy(b, 0)
  let o = head.length
  b[o] = Backend.BackendKeyData
  b.writeInt32BE(12, o + 1)
  b.writeInt32BE(pid, o + 5)
  b.writeInt32BE(key, o + 9)
  o += 13
  b[o] = Backend.ReadyForQuery
  b.writeInt32BE(5, o + 1)
  b[o + 5] = 0x49 // 'I'
  return b
}

export const commandComplete = (tag: string) => message(Backend.CommandComplete, cstr(tag))
export const emptyQueryResponse = () => message(Backend.EmptyQueryResponse)
export const parseComplete = () => message(Backend.ParseComplete)
export const closeComplete = () => message(Backend.CloseComplete)

export const authOk = () => message(Backend.Authentication, int32(AuthCode.Ok))
export const authCleartext = () => message(Backend.Authentication, int32(AuthCode.CleartextPassword))
/** AuthenticationMD5Password, built in one buffer: every md5 login sends one. */
export function authMd5(salt: Buffer): Buffer {
  const b = Buffer.allocUnsafe(13)
  b[0] = Backend.Authentication
  b.writeInt32BE(12, 1)
  b.writeInt32BE(AuthCode.MD5Password, 5)
  salt.copy(b, 9, 0, 4)
  return b
}
export const authSasl = (mechanisms: string[]) =>
  message(
    Backend.Authentication,
    Buffer.concat([int32(AuthCode.SASL), ...mechanisms.map(cstr), Buffer.from([0])]),
  )
export const authSaslContinue = (data: string) =>
  message(Backend.Authentication, Buffer.concat([int32(AuthCode.SASLContinue), Buffer.from(data)]))
export const authSaslFinal = (data: string) =>
  message(Backend.Authentication, Buffer.concat([int32(AuthCode.SASLFinal), Buffer.from(data)]))

/** RowDescription with every column of type text (OID 25), as the admin console answers. */
export function rowDescription(columns: string[]): Buffer {
  const parts: Buffer[] = [int16(columns.length)]
  for (const c of columns) {
    parts.push(cstr(c), int32(0), int16(0), int32(25), int16(-1), int32(-1), int16(0))
  }
  return message(Backend.RowDescription, Buffer.concat(parts))
}

export function dataRow(values: Array<string | number | null | undefined>): Buffer {
  const parts: Buffer[] = [int16(values.length)]
  for (const v of values) {
    if (v === null || v === undefined) parts.push(int32(-1))
    else {
      const b = Buffer.from(String(v), 'utf8')
      parts.push(int32(b.length), b)
    }
  }
  return message(Backend.DataRow, Buffer.concat(parts))
}

// Frontend messages the pooler sends to a server of its own accord.

export function startupMessage(params: Record<string, string>): Buffer {
  const body = Buffer.concat([
    int32(StartupCode.Protocol3),
    ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]),
    Buffer.from([0]),
  ])
  return Buffer.concat([int32(body.length + 4), body])
}

export const sslRequest = () => Buffer.concat([int32(8), int32(StartupCode.SSLRequest)])
export const cancelRequest = (pid: number, key: number) =>
  Buffer.concat([int32(16), int32(StartupCode.CancelRequest), int32(pid), int32(key)])
export const query = (sql: string) => message(Frontend.Query, cstr(sql))
export const terminate = () => message(Frontend.Terminate)
export const passwordMessage = (password: string) => message(Frontend.Password, cstr(password))
export const saslInitialResponse = (mechanism: string, data: string) => {
  const d = Buffer.from(data, 'utf8')
  return message(Frontend.Password, Buffer.concat([cstr(mechanism), int32(d.length), d]))
}
export const saslResponse = (data: string) => message(Frontend.Password, Buffer.from(data, 'utf8'))

/** A Parse message with the given statement name and the original body after the name. */
export function parseWithName(name: string, rest: Buffer): Buffer {
  return message(Frontend.Parse, Buffer.concat([cstr(name), rest]))
}
