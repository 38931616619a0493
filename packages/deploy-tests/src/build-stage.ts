// Runs a Dockerfile's build stage here, without Docker: its WORKDIR becomes a temp dir, each COPY
// copies from the build context (the repository, less what .dockerignore leaves out) and each RUN
// runs in sh, with /src and /rootfs mapped into the temp dir. The global `npm install -g pnpm@X`
// is left out (it would change this machine); `pnpm` then runs as `npx -y pnpm@X`, the same
// version. What the final stage copies (/rootfs) is returned.
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { ROOT } from './paths.ts'

/** A small .dockerignore matcher: `**\/name`, `**\/*.suffix`, `top/level/path`. */
function ignoredBy(patterns: string[]) {
  return (rel: string) =>
    patterns.some((p) => {
      if (p.startsWith('**/*.')) return rel.endsWith(p.slice(4))
      if (p.startsWith('**/')) return rel.split('/').includes(p.slice(3))
      return rel === p || rel.startsWith(`${p}/`)
    })
}

export interface BuildStageResult {
  dir: string
  rootfs: string
  log: string
  cleanup(): void
}

export function runBuildStage(dockerfile: string): BuildStageResult {
  const text = readFileSync(dockerfile, 'utf8').replace(/\\\n\s*/g, ' ')
  const lines = text.split('\n').filter((l) => l.trim() && !l.startsWith('#'))
  const firstFrom = lines.findIndex((l) => l.startsWith('FROM '))
  const secondFrom = lines.findIndex((l, i) => i > firstFrom && l.startsWith('FROM '))
  const stage = lines.slice(firstFrom + 1, secondFrom)
  const ignore = ignoredBy(
    readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#')),
  )
  const dir = mkdtempSync(join(tmpdir(), 'podkit-build-'))
  const src = join(dir, 'src')
  const rootfs = join(dir, 'rootfs')
  let log = ''
  let pnpm = 'pnpm'
  const map = (cmd: string) => cmd.replaceAll('/rootfs', rootfs).replaceAll('/src/', `${src}/`)
  for (const line of stage) {
    const [op, ...rest] = line.split(/\s+/)
    if (op === 'WORKDIR') {
      if (rest[0] !== '/src') throw new Error(`unexpected WORKDIR ${rest[0]}`)
      mkdirSync(src, { recursive: true })
    } else if (op === 'COPY') {
      const args = rest.filter((a) => !a.startsWith('--'))
      const dest = args.pop()!
      for (const from of args) {
        const target =
          dest.endsWith('/') || args.length > 1 ? join(src, dest, from.split('/').pop()!) : join(src, dest)
        if (!existsSync(join(ROOT, from))) throw new Error(`COPY ${from}: not in the build context`)
        cpSync(join(ROOT, from), target, {
          recursive: true,
          filter: (p) => {
            const rel = relative(ROOT, p)
            return rel === '' || !ignore(rel)
          },
        })
      }
    } else if (op === 'RUN') {
      let cmd = rest.filter((a) => !a.startsWith('--mount=')).join(' ')
      const global = /^npm install -g (pnpm@\S+)$/.exec(cmd.trim())
      if (global) {
        pnpm = `npx -y ${global[1]}`
        continue
      }
      cmd = map(cmd).replace(/(^|&&\s*)pnpm /g, `$1${pnpm} `)
      log += `$ ${cmd}\n`
      try {
        log += execFileSync('sh', ['-c', cmd], {
          cwd: src,
          encoding: 'utf8',
          env: { ...process.env, CI: 'true' },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string }
        rmSync(dir, { recursive: true, force: true })
        throw new Error(`RUN ${cmd} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`)
      }
    } else if (op !== 'ARG' && op !== 'ENV') {
      throw new Error(`the build stage has an instruction this runner does not know: ${line}`)
    }
  }
  return { dir, rootfs, log, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}
