// Where things are: the repository root, the seed document, each service's bundle.
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')

/** The seed podkit is built from; CI checks out shared/ beside the repository. */
export function seedPath(): string {
  const candidates = [
    join(ROOT, '../shared/seed/multi-container-pods.md'),
    '/work/shared/seed/multi-container-pods.md',
  ]
  const found = candidates.find((c) => existsSync(c))
  if (!found) throw new Error(`the seed document is missing; looked in ${candidates.join(', ')}`)
  return found
}

export const bundlePath = (service: string) => join(ROOT, 'packages', service, 'dist/main.js')
