// Unit tests of the native wrapper: the shim loads, and failures carry errno names (no root needed).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BinderyError, ErrorCode } from '../errors.js';
import {
  nativeAbiVersion,
  openDeviceUdpSocket,
  openPingSocket,
  openTap,
  SyscallError,
} from './index.js';

const missing = `bdy-${process.env.BINDERY_RUN_ID ?? 'dev'}-missing-${process.pid}`;

/** Matches a SyscallError (a BinderyError with code BINDERY_ERR_SYSCALL) with this errno/syscall. */
function syscallError(errno: string, syscall: string, text?: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof SyscallError, `not a SyscallError: ${String(e)}`);
    assert.ok(e instanceof BinderyError);
    assert.equal(e.code, ErrorCode.Syscall);
    assert.equal(e.errno, errno);
    assert.equal(e.syscall, syscall);
    assert.match(e.message, new RegExp(`^${syscall.replace(/[()]/g, '\\$&')} .*: ${errno} \\(`));
    if (text !== undefined) assert.ok(e.message.includes(text), e.message);
    return true;
  };
}

describe('native shim', () => {
  it('loads and reports the ABI the wrapper expects', () => {
    assert.equal(nativeAbiVersion(), 15);
  });

  it('openTap in a namespace that does not exist: ENOENT from open', () => {
    assert.throws(
      () => openTap({ netns: missing, name: 'bdyt0' }),
      syscallError('ENOENT', 'open', `/run/netns/${missing}`),
    );
  });

  it('takes absolute namespace paths as they are', () => {
    assert.throws(
      () => openTap({ netns: '/nonexistent/bindery/ns', name: 'bdyt0' }),
      syscallError('ENOENT', 'open', '/nonexistent/bindery/ns'),
    );
  });

  it('refuses a bare namespace name that would leave /run/netns: EINVAL', () => {
    assert.throws(() => openTap({ netns: '../x', name: 'bdyt0' }), syscallError('EINVAL', 'open'));
    assert.throws(() => openTap({ netns: '..', name: 'bdyt0' }), syscallError('EINVAL', 'open'));
  });

  it('sockets with a missing netns fail the same way', () => {
    assert.throws(
      () => openPingSocket({ family: 6, netns: missing }),
      syscallError('ENOENT', 'open'),
    );
    assert.throws(
      () => openDeviceUdpSocket({ device: 'lo', port: 67, netns: missing }),
      syscallError('ENOENT', 'open'),
    );
  });

  it('rejects arguments of the wrong type with a TypeError', () => {
    assert.throws(
      () => openTap({ netns: missing, name: 42 as unknown as string }),
      (e: unknown) => e instanceof TypeError,
    );
  });
});
