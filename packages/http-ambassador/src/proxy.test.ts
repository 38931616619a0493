import { describe, expect, it } from 'vitest'
import { isInternalAddress } from './proxy.ts'

describe('isInternalAddress (Envoy default: RFC 1918, loopback, fd00::/8)', () => {
  it.each([
    ['10.1.2.3', true],
    ['192.168.0.1', true],
    ['172.16.0.1', true],
    ['172.31.255.255', true],
    ['172.15.0.1', false],
    ['172.32.0.1', false],
    ['127.0.0.1', true],
    ['::ffff:10.0.0.1', true],
    ['::ffff:8.8.8.8', false],
    ['::1', true],
    ['fd12:3456::1', true],
    ['FD00::1', true],
    // 0x00fd and 0x0fd1 are not in fd00::/8: the first byte is not 0xfd.
    ['fd::1', false],
    ['fd1::1', false],
    ['8.8.8.8', false],
    [undefined, false],
  ])('%s: %s', (a, want) => expect(isInternalAddress(a)).toBe(want))
})
