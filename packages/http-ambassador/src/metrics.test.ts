import { createServiceRegistry } from '@podkit/runtime'
import { describe, expect, it } from 'vitest'
import { createMetrics } from './metrics.ts'

describe('metrics', () => {
  it('exposes the request counter and the duration histogram in Prometheus text', async () => {
    const { registry } = createServiceRegistry({ service: 'test', processMetrics: false })
    const m = createMetrics(registry, () => [])
    m.request('l0', 'api', 200, 0.003)
    m.request('l0', 'api', 200, 0.2)
    m.request('l0', 'api', 503, 40)
    m.request('l0', '', 0, 0)
    const text = await registry.metrics()
    expect(text).toContain(
      'podkit_http_ambassador_requests_total{listener="l0",cluster="api",code_class="2xx"} 2',
    )
    expect(text).toContain(
      'podkit_http_ambassador_requests_total{listener="l0",cluster="api",code_class="5xx"} 1',
    )
    expect(text).toContain(
      'podkit_http_ambassador_requests_total{listener="l0",cluster="",code_class="none"} 1',
    )
    expect(text).toContain('# TYPE podkit_http_ambassador_request_duration_seconds histogram')
    expect(text).toContain(
      'podkit_http_ambassador_request_duration_seconds_bucket{cluster="api",le="0.0025"} 0',
    )
    expect(text).toContain(
      'podkit_http_ambassador_request_duration_seconds_bucket{cluster="api",le="0.005"} 1',
    )
    expect(text).toContain('podkit_http_ambassador_request_duration_seconds_bucket{cluster="api",le="30"} 2')
    expect(text).toContain(
      'podkit_http_ambassador_request_duration_seconds_bucket{cluster="api",le="+Inf"} 3',
    )
    expect(text).toContain('podkit_http_ambassador_request_duration_seconds_sum{cluster="api"} 40.203')
    expect(text).toContain('podkit_http_ambassador_request_duration_seconds_count{cluster="api"} 3')
    // Scraping twice does not double the counts.
    expect(await registry.metrics()).toContain('code_class="2xx"} 2')
  })
})
