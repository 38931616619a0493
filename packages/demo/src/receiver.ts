// The local log receiver: the aggregator end of the log-shipper's http output (Format json_lines:
// one JSON record per line in each POST). Keeps the last records to show and counts the rest; a
// body line that is not JSON is counted as malformed, never dropped silently.
import { createServer, type Server } from 'node:http'

export interface ReceivedRecord {
  receivedAt: string
  record: Record<string, unknown>
}

export async function startReceiver(keep = 50) {
  const recent: ReceivedRecord[] = []
  let records = 0
  let posts = 0
  let malformed = 0
  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST') {
      res.statusCode = 405
      res.end()
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      posts++
      for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
        if (!line.trim()) continue
        try {
          const record = JSON.parse(line) as Record<string, unknown>
          records++
          recent.push({ receivedAt: new Date().toISOString(), record })
          if (recent.length > keep) recent.shift()
        } catch {
          malformed++
        }
      }
      res.statusCode = 200
      res.end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  return {
    port,
    state: () => ({ records, posts, malformed, recent: recent.slice(-10) }),
    all: () => recent.slice(),
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}
