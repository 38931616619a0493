// The five services as the images and manifests know them: image name, the ports each image
// exposes and the compat commands it ships. Admin ports are read from each service's own schema,
// so a changed default shows up here as a failing check rather than a stale probe.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { bundlePath, ROOT } from './paths.ts'

export interface ServiceInfo {
  name: string
  image: string
  /** Ports other than the admin port the service listens on by default. */
  dataPorts: number[]
  /** The admin port when the schema cannot be read (the documented default). */
  documentedAdminPort: number
}

export const SERVICES: ServiceInfo[] = [
  { name: 'log-shipper', image: 'ghcr.io/podkit/log-shipper', dataPorts: [], documentedAdminPort: 2020 },
  { name: 'log-adapter', image: 'ghcr.io/podkit/log-adapter', dataPorts: [], documentedAdminPort: 2021 },
  {
    name: 'metrics-adapter',
    image: 'ghcr.io/podkit/metrics-adapter',
    dataPorts: [],
    documentedAdminPort: 9113,
  },
  {
    name: 'db-ambassador',
    image: 'ghcr.io/podkit/db-ambassador',
    dataPorts: [5432],
    documentedAdminPort: 9127,
  },
  {
    name: 'http-ambassador',
    image: 'ghcr.io/podkit/http-ambassador',
    dataPorts: [8001],
    documentedAdminPort: 9901,
  },
]

export const serviceByImage = (image: string): ServiceInfo | undefined =>
  SERVICES.find(
    (s) => image === s.image || image.startsWith(`${s.image}:`) || image.startsWith(`${s.image}@`),
  )

/** The admin port default from the service's schema (src/config.ts exports `schema`). */
export async function schemaAdminPort(service: string): Promise<number | undefined> {
  const file = join(ROOT, 'packages', service, 'src/config.ts')
  if (!existsSync(file)) return undefined
  const mod = (await import(file)) as {
    schema?: { properties?: { admin?: { properties?: { port?: { default?: unknown } } } } }
  }
  const port = mod.schema?.properties?.admin?.properties?.port?.default
  return typeof port === 'number' ? port : undefined
}

export const hasBundle = (service: string) => existsSync(bundlePath(service))

// The image's NODE_OPTIONS and node arguments (package.json podkit.nodeOptions / nodeArgs).
export { imageNodeArgs, imageNodeOptions } from '@podkit/test-utils'
