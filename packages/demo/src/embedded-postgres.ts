// PostgreSQL for machines without it: PGlite (Postgres compiled to WebAssembly) behind its
// socket server, which speaks the wire protocol on a loopback port. It trusts every login and
// serves one database, `postgres`, one connection at a time, so the db-ambassador in front of it
// pools to a single server connection. Loaded at run time, not bundled: PGlite finds its
// .wasm and data files next to its own module.
export interface EmbeddedPostgres {
  port: number
  database: string
  stop(): Promise<void>
}

export async function startEmbeddedPostgres(dataDir?: string): Promise<EmbeddedPostgres> {
  // Specifiers in variables keep esbuild from inlining the packages.
  const pgliteName = '@electric-sql/pglite'
  const socketName = '@electric-sql/pglite-socket'
  const { PGlite } = (await import(pgliteName)) as typeof import('@electric-sql/pglite')
  const { PGLiteSocketServer } = (await import(socketName)) as typeof import('@electric-sql/pglite-socket')
  const db = await PGlite.create(dataDir)
  const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1' })
  await server.start()
  const port = Number(String(server.getServerConn()).split(':').pop())
  return {
    port,
    database: 'postgres',
    async stop() {
      await server.stop()
      await db.close()
    },
  }
}
