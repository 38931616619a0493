// The "external API" of the demo: an HTTPS server with a certificate from a CA made at start,
// reachable only through the http-ambassador, which verifies it against that CA.
import { createServer, type Server } from 'node:https'

export async function startUpstream(tls: { cert: string; key: string }) {
  let requests = 0
  const server: Server = createServer(tls, (req, res) => {
    requests++
    res.setHeader('content-type', 'application/json')
    res.end(
      `${JSON.stringify({ service: 'external-api', path: req.url, quote: 1000 + (requests % 97), served: requests })}\n`,
    )
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  return {
    port,
    requests: () => requests,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}
