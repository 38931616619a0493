// A small router for admin endpoints on node:http, with the request/reply shape of fastify's
// (`app.get(path, async (req, reply) => body)`, `reply.code(503).type('text/plain')`).
// Why not fastify itself: measured here, fastify adds about 10 MiB of resident memory to a
// sidecar whose whole budget is 64 MiB, for a handful of GET/POST routes.

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'

export interface AdminRequest {
  method: string
  url: string
  /** The path without the query string. */
  path: string
  query: Record<string, string>
  headers: IncomingHttpHeaders
  raw: IncomingMessage
}

export interface AdminReply {
  code(status: number): AdminReply
  status(status: number): AdminReply
  type(contentType: string): AdminReply
  header(name: string, value: string | number): AdminReply
  readonly statusCode: number
  raw: ServerResponse
}

/** A string or Buffer is sent as is; any other value as JSON; undefined as an empty body. */
export type AdminHandler = (req: AdminRequest, reply: AdminReply) => unknown | Promise<unknown>

export interface AdminApp {
  get(path: string, handler: AdminHandler): void
  post(path: string, handler: AdminHandler): void
  hasRoute(route: { method: string; url: string }): boolean
}

export class AdminRouter implements AdminApp {
  private readonly routes = new Map<string, AdminHandler>()

  get(path: string, handler: AdminHandler): void {
    this.routes.set(`GET ${path}`, handler)
  }

  post(path: string, handler: AdminHandler): void {
    this.routes.set(`POST ${path}`, handler)
  }

  hasRoute(route: { method: string; url: string }): boolean {
    return this.routes.has(`${route.method.toUpperCase()} ${route.url}`)
  }

  /** Serves one request; answers 404 for an unknown path and 405 for a known path with another method. */
  handle(raw: IncomingMessage, res: ServerResponse): void {
    const url = raw.url ?? '/'
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    const method = raw.method === 'HEAD' ? 'GET' : (raw.method ?? 'GET')
    const handler = this.routes.get(`${method} ${path}`)
    // Admin requests carry no body we read; drain it so keep-alive connections stay usable.
    raw.resume()
    if (!handler) {
      const other = [...this.routes.keys()].some((k) => k.endsWith(` ${path}`))
      send(
        res,
        other ? 405 : 404,
        'text/plain; charset=utf-8',
        other ? 'Method Not Allowed\n' : 'Not Found\n',
        raw.method,
      )
      return
    }
    const query: Record<string, string> = {}
    if (q !== -1) for (const [k, v] of new URLSearchParams(url.slice(q + 1))) query[k] = v
    let status = 200
    let contentType: string | undefined
    const reply: AdminReply = {
      code(s) {
        status = s
        return reply
      },
      status(s) {
        status = s
        return reply
      },
      type(t) {
        contentType = t
        return reply
      },
      header(name, value) {
        res.setHeader(name, value)
        return reply
      },
      get statusCode() {
        return status
      },
      raw: res,
    }
    const req: AdminRequest = { method: raw.method ?? 'GET', url, path, query, headers: raw.headers, raw }
    Promise.resolve()
      .then(() => handler(req, reply))
      .then(
        (body) => {
          if (res.headersSent) return
          if (body === undefined || body === null) send(res, status, contentType, '', raw.method)
          else if (typeof body === 'string' || Buffer.isBuffer(body)) {
            send(res, status, contentType ?? 'text/plain; charset=utf-8', body, raw.method)
          } else
            send(
              res,
              status,
              contentType ?? 'application/json; charset=utf-8',
              JSON.stringify(body),
              raw.method,
            )
        },
        (err: Error) => {
          if (res.headersSent) {
            res.destroy()
            return
          }
          send(
            res,
            500,
            'application/json; charset=utf-8',
            JSON.stringify({ error: err.message }),
            raw.method,
          )
        },
      )
  }
}

function send(
  res: ServerResponse,
  status: number,
  type: string | undefined,
  body: string | Buffer,
  method?: string,
): void {
  res.statusCode = status
  if (type) res.setHeader('content-type', type)
  res.setHeader('content-length', typeof body === 'string' ? Buffer.byteLength(body) : body.length)
  res.end(method === 'HEAD' ? undefined : body)
}
