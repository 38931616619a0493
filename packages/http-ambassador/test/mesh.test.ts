// The seed's service-mesh pod: one listener per upstream (inventory, payment, user), each with
// mTLS to its own service; payment over HTTP/2, user as LOGICAL_DNS. Our envoy.yaml for that pod,
// with the ports and the mounted certificate paths pointed at this test.

import { readFileSync } from 'node:fs'
import type { TLSSocket } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '@podkit/runtime'
import { request } from 'undici'
import { expect, it } from 'vitest'
import { parse } from 'yaml'
import { createHttpAmbassador, envoyToConfig, normalize, schema } from '../src/index.ts'
import { fileFixtures, type Upstream } from './helpers.ts'

const { pki, cleanups, upstream } = fileFixtures()

it('routes each mesh listener to its own mTLS upstream', async () => {
  const names = ['inventory', 'payment', 'user'].map((s) => `${s}.shop.svc.cluster.local`)
  const cert = pki.issue('mesh', { dns: names })
  const ups: Upstream[] = []
  for (const [i, svc] of ['inventory', 'payment', 'user'].entries()) {
    const u = await upstream(
      (req, res) =>
        res.end(
          `${svc} http/${req.httpVersion} client=${(req.socket as TLSSocket).getPeerCertificate().subject?.CN}`,
        ),
      { cert, requestCert: true, http2: i === 1 },
    )
    ups.push(u)
  }
  let text = readFileSync(fileURLToPath(new URL('./fixtures/mesh-envoy.yaml', import.meta.url)), 'utf8')
  text = text
    .replace(/port_value: 1500[0-3]/g, 'port_value: 0')
    .replaceAll('/etc/certs/tls.crt', pki.client.certFile)
    .replaceAll('/etc/certs/tls.key', pki.client.keyFile)
    .replaceAll('/etc/certs/ca.crt', pki.ca.certFile)
  names.forEach((n, i) => {
    text = text.replace(`address: ${n}, port_value: 8443`, `address: ${n}, port_value: ${ups[i]!.port}`)
  })
  const loaded = loadConfig({
    schema,
    env: {},
    layers: [{ source: 'mesh', values: envoyToConfig(parse(text)) }],
  })
  const { spec, issues } = normalize(loaded.config)
  expect(issues).toEqual([])
  const amb = createHttpAmbassador({ ...spec!, drainTime: 0 }, { resolver: async () => ['127.0.0.1'] })
  await amb.start()
  cleanups.push(() => amb.stop({ deadline: Date.now() + 1000 }))
  const got: string[] = []
  for (const l of amb.listeners()) {
    const res = await request(`http://127.0.0.1:${l.port}/`)
    got.push(await res.body.text())
  }
  expect(got).toEqual([
    'inventory http/1.1 client=podkit-client',
    'payment http/2.0 client=podkit-client',
    'user http/1.1 client=podkit-client',
  ])
})
