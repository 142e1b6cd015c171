// `bindery up` end to end: every example passes `up --check` and leaves nothing behind; admission errors stop it before anything exists; up → status → exec → down; Ctrl-C during boot tears down.
//
// Each run gets its own state dir and TMPDIR (so "no temp file left" is "that dir is empty"),
// and the namespaces, processes and links of `bindery up` are recognisable by name
// (`bdy-up-*` namespaces, `bindery-up-*` temp dirs in every command line it starts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labSkipReason } from '../lab/lab.js';
import { qemuSkipReason } from '../lab/qemu.js';
import { EXAMPLES, bindery, leftovers, upSuiteSetup } from '../lab/up-cli.js';
import { waitFor } from '../lab/wait.js';

const skip = labSkipReason() ?? qemuSkipReason();

test('bindery up', { skip, timeout: 40 * 60_000 }, async (t) => {
  const { root, env, stateArgs, assertClean } = await upSuiteSetup(t, 'bdy-uptest-');

  await t.test(
    'a manifest with admission errors: exit 1 with the errors, nothing created',
    async () => {
      const bad = join(root, 'bad.yaml');
      writeFileSync(
        bad,
        [
          'apiVersion: kubevirt.io/v1',
          'kind: VirtualMachine',
          'metadata: {name: bad-vm}',
          'spec:',
          '  template:',
          '    spec:',
          '      domain:',
          '        devices:',
          '          interfaces: [{name: default, masquerade: {}, bridge: {}}]',
          '        resources: {requests: {memory: 128Mi}}',
          '      networks: [{name: default, pod: {}}]',
          '',
        ].join('\n'),
      );
      const r = await bindery(env, ['up', bad, ...stateArgs]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        /bad\.yaml:\d+: spec\.template\.spec\.domain\.devices\.interfaces\[0\]: .*\[BINDERY_/,
      );
      assert.match(r.stderr, /nothing created/);
      assert.doesNotMatch(r.stdout, /pod:/, 'stopped before the pod step');
      assertClean('the failed up');
    },
  );

  for (const ex of ['passt-vm', 'kubevirt-masquerade', 'virtink-bridge', 'virtink-masquerade']) {
    await t.test(`up examples/${ex}.yaml --check passes and leaves nothing`, async () => {
      const r = await bindery(env, ['up', join(EXAMPLES, `${ex}.yaml`), '--check', ...stateArgs]);
      t.diagnostic(r.stdout);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /^PASS: all \d+ checks passed$/m);
      assert.match(r.stdout, /GUEST IPV4/);
      assert.doesNotMatch(r.stdout, /^FAIL/m);
      assertClean(ex);
    });
  }

  await t.test('up (left running), status, exec, down', async () => {
    const up = await bindery(env, ['up', join(EXAMPLES, 'virtink-bridge.yaml'), ...stateArgs]);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    assert.match(up.stdout, /vk-bridge\s+pod \(eth0\)\s+bridge\s+10\.244\.1\.2\/24/);
    const st = await bindery(env, ['status', ...stateArgs]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /^vk-bridge\s+pod/m);
    const ex = await bindery(env, ['exec', 'vk-bridge', ...stateArgs, '--', 'uname', '-n']);
    assert.equal(ex.code, 0, ex.stderr);
    assert.equal(ex.stdout.trim(), 'vk-bridge');
    const fails = await bindery(env, [
      'exec',
      'vk-bridge',
      ...stateArgs,
      '--',
      'sh',
      '-c',
      'exit 3',
    ]);
    assert.equal(fails.code, 3, 'exec exits with the command’s code');
    const down = await bindery(env, ['down', 'vk-bridge', ...stateArgs]);
    assert.equal(down.code, 0, down.stderr);
    assertClean('up + down');
    const again = await bindery(env, ['down', 'vk-bridge', ...stateArgs]);
    assert.equal(again.code, 0, 'down is idempotent');
  });

  await t.test('SIGINT during boot tears everything down', async () => {
    let sent = false;
    const r = await bindery(env, ['up', join(EXAMPLES, 'kubevirt-masquerade.yaml'), ...stateArgs], {
      onStdout: (all, kill) => {
        if (!sent && /\] boot: /.test(all)) {
          sent = true;
          kill('SIGINT');
        }
      },
    });
    assert.ok(sent, `reached boot\n${r.stdout}\n${r.stderr}`);
    assert.equal(r.code, 130, `${r.stdout}\n${r.stderr}`);
    await waitFor(() => leftovers(env).procs.length === 0, 10_000, 'processes gone');
    assertClean('the interrupted up');
  });
});
