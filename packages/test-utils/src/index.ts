// @podkit/test-utils: real servers and fixtures for podkit's tests (private).

export { imageNode, imageNodeArgs, imageNodeMajor, imageNodeOptions, nodeVersion } from './image-node.ts'
export { freePort, sleep, waitFor, waitForPort } from './net.ts'
export { defaultNginxHttp, type NginxOptions, type NginxServer, nginxBinary, startNginx } from './nginx.ts'
export { createTestPki, type KeyPair, type PkiOptions, type TestPki } from './pki.ts'
export { type PostgresOptions, type PostgresServer, postgresBinDir, startPostgres } from './postgres.ts'
export { type ServiceProcess, type SpawnServiceOptions, spawnService } from './service.ts'
export { type TempDir, tempDir } from './temp.ts'
