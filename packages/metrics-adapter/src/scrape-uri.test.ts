import { describe, expect, it } from 'vitest'
import { ScrapeUriError } from './errors.ts'
import { parseScrapeUri } from './scrape-uri.ts'

describe('parseScrapeUri', () => {
  it('reads the exporter unix socket form', () => {
    expect(parseScrapeUri('unix:/var/run/nginx.sock:/stub_status')).toMatchObject({
      socketPath: '/var/run/nginx.sock',
      path: '/stub_status',
      tls: false,
    })
    expect(parseScrapeUri('unix:/var/run/nginx.sock')).toMatchObject({
      socketPath: '/var/run/nginx.sock',
      path: '/',
    })
  })

  it('reads http and https with a query, port and credentials kept out of the display', () => {
    const u = parseScrapeUri('https://user:s3cret@nginx.local:8443/server-status?auto')
    expect(u).toMatchObject({
      origin: 'https://nginx.local:8443',
      path: '/server-status?auto',
      tls: true,
      servername: 'nginx.local',
    })
    expect(u.authorization).toBe(`Basic ${Buffer.from('user:s3cret').toString('base64')}`)
    expect(u.display).not.toContain('s3cret')
    expect(parseScrapeUri('https://127.0.0.1/x').servername).toBeUndefined()
  })

  it.each(['ftp://x/', 'not a uri', 'unix:', 'unix:/a:/b:/c'])('refuses %j', (raw) => {
    expect(() => parseScrapeUri(raw)).toThrow(ScrapeUriError)
  })
})
