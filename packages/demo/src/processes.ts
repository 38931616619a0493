// The demo's child processes: started with node, their JSON log lines kept (and the important
// ones echoed with the process's name), stopped with SIGTERM like a kubelet does, exit codes
// recorded so the demo can show the drain and whether everything exited 0.
import { type ChildProcess, spawn } from 'node:child_process'

export interface Managed {
  name: string
  child: ChildProcess
  logs: Array<Record<string, unknown>>
  exitCode(): number | string | null
  exited: Promise<number | string>
  stop(timeoutMs?: number): Promise<number | string>
}

export type Echo = (name: string, line: Record<string, unknown>) => void

export function startProcess(name: string, args: string[], env: Record<string, string>, echo: Echo): Managed {
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: Array<Record<string, unknown>> = []
  let partial = ''
  const onLine = (l: string) => {
    if (!l.trim()) return
    let rec: Record<string, unknown>
    try {
      rec = JSON.parse(l)
    } catch {
      rec = { msg: l }
    }
    logs.push(rec)
    if (logs.length > 500) logs.shift()
    echo(name, rec)
  }
  child.stdout!.on('data', (d: Buffer) => {
    partial += d.toString()
    const lines = partial.split('\n')
    partial = lines.pop()!
    lines.forEach(onLine)
  })
  child.stderr!.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n'))
      if (l.trim()) onLine(JSON.stringify({ level: 'stderr', msg: l }))
  })
  let code: number | string | null = null
  const exited = new Promise<number | string>((resolve) =>
    child.once('close', (c, s) => {
      code = c ?? s ?? 'unknown'
      resolve(code)
    }),
  )
  return {
    name,
    child,
    logs,
    exitCode: () => code,
    exited,
    async stop(timeoutMs = 30_000) {
      if (code === null) {
        child.kill('SIGTERM')
        const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
        await exited
        clearTimeout(t)
      }
      return code!
    },
  }
}
