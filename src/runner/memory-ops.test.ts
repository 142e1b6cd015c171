// Tests of the memory operation's helpers: which npm package a loaded module file belongs to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { loadedPackages, packageOf } from './memory-ops.js';

test('packageOf names the innermost package of a module file', () => {
  assert.equal(packageOf('/app/node_modules/pino/lib/tools.js'), 'pino');
  assert.equal(packageOf('/app/node_modules/@grpc/grpc-js/build/src/index.js'), '@grpc/grpc-js');
  assert.equal(packageOf('/app/node_modules/pino/node_modules/sonic-boom/index.js'), 'sonic-boom');
  assert.equal(packageOf('/app/dist/cli/main.js'), undefined);
});

test('loadedPackages lists a CommonJS package once it is required', () => {
  createRequire(import.meta.url)('rfc6902');
  assert.ok(loadedPackages().includes('rfc6902'));
});
