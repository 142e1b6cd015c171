// `bindery migrate` end to end with real QEMU (TCG): link-refresh gives the guest the target pod's addresses (IPv4 and IPv6), --keep-ip keeps it, a non-migratable VM is refused untouched, and down leaves nothing.
//
// Three boots: a KubeVirt bridge VM on the pod network without the allow annotation (refused),
// the passt VM of examples/ migrated twice (link-refresh, then --keep-ip) and once more against
// a deadline it cannot meet, and the KubeVirt masquerade VM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labSkipReason } from '../lab/lab.js';
import { qemuSkipReason } from '../lab/qemu.js';
import { EXAMPLES, bindery, leftovers, upSuiteSetup } from '../lab/up-cli.js';
import { waitFor } from '../lab/wait.js';
import { HTTP_MARKER } from '../../src/up/checks.js';
import { isOurs } from '../../src/up/sys.js';
import type { RunState } from '../../src/up/state.js';
import type { MigrateReport } from '../../src/up/migrate.js';

const KV_REFUSAL =
  'cannot migrate VMI which does not use masquerade or a migratable plugin to connect to the pod network';
const VM = 'vm-net-binding-passt';

const skip = labSkipReason() ?? qemuSkipReason();

test('bindery migrate', { skip, timeout: 20 * 60_000 }, async (t) => {
  const { root, env, stateArgs, assertClean } = await upSuiteSetup(t, 'bdy-migtest-');
  const state = (vm: string): RunState =>
    JSON.parse(readFileSync(join(env.state, vm, 'state.json'), 'utf8')) as RunState;
  const exec = async (vm: string, cmd: string[]): Promise<string> => {
    const r = await bindery(env, ['exec', vm, ...stateArgs, '--', ...cmd]);
    assert.equal(r.code, 0, `${cmd.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const migrate = async (args: string[], vm = VM): Promise<MigrateReport> => {
    const r = await bindery(env, ['migrate', vm, '--json', ...args, ...stateArgs]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const rep = JSON.parse(r.stdout) as MigrateReport;
    t.diagnostic(
      `migrate ${vm} ${args.join(' ')}: migration ${rep.migrationMs} ms, VM stopped ${rep.stopMs} ms, ` +
        `network downtime ${rep.networkDowntimeMs} ms (${rep.contToAnswerMs} ms of it after cont), ` +
        `new address ${rep.addressMs} ms after cont, ` +
        `${rep.probe?.answers} probe answers; warnings: ${rep.warnings.join(' | ')}`,
    );
    return rep;
  };
  /** The source pod's namespace, QEMU and translators are gone. */
  const assertSourceGone = (before: RunState): void => {
    const ns = leftovers(env).ns;
    assert.ok(!ns.includes(before.pod), `source pod ${before.pod} still there`);
    for (const pr of before.processes.filter((p) => p.role === 'qemu' || p.role === 'passt'))
      assert.ok(!isOurs(pr.pid, pr.match), `source ${pr.role} ${pr.pid} still runs`);
  };

  await t.test('a VM its platform would not migrate is refused and untouched', async () => {
    const file = join(root, 'kv-bridge.yaml');
    writeFileSync(
      file,
      [
        'apiVersion: kubevirt.io/v1',
        'kind: VirtualMachine',
        'metadata: {name: kv-bridge}',
        'spec:',
        '  template:',
        '    spec:',
        '      domain:',
        '        devices:',
        '          interfaces: [{name: default, bridge: {}}]',
        '        resources: {requests: {memory: 128Mi}}',
        '      networks: [{name: default, pod: {}}]',
        '',
      ].join('\n'),
    );
    const up = await bindery(env, ['up', file, ...stateArgs]);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    const before = leftovers(env);
    const stateBefore = readFileSync(join(env.state, 'kv-bridge', 'state.json'), 'utf8');
    const r = await bindery(env, ['migrate', 'kv-bridge', ...stateArgs]);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.ok(r.stderr.includes(KV_REFUSAL), r.stderr);
    assert.match(r.stderr, /BINDERY_ERR_MIGRATE/);
    assert.deepEqual(leftovers(env), before, 'the refusal created nothing');
    assert.equal(
      readFileSync(join(env.state, 'kv-bridge', 'state.json'), 'utf8'),
      stateBefore,
      'the run state is untouched',
    );
    assert.equal((await bindery(env, ['down', 'kv-bridge', ...stateArgs])).code, 0);
    assertClean('the refused VM');
  });

  await t.test('link-refresh: the guest gets the target pod address', async () => {
    const up = await bindery(env, ['up', join(EXAMPLES, 'passt-vm.yaml'), ...stateArgs]);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    const before = state(VM);
    const rep = await migrate([]);
    const after = state(VM);
    assert.notEqual(rep.target.podIPv4, rep.source.podIPv4, 'a new pod IP');
    assert.notEqual(after.pod, before.pod);
    assert.deepEqual(after.otherPods ?? [], [], 'no migration left in flight');
    assert.equal(rep.interfaces[0]?.action, 'link-refresh');
    assert.equal(rep.interfaces[0]?.ipv4After, `${rep.target.podIPv4}/24`);
    assert.ok(rep.migrationMs !== undefined && rep.stopMs !== undefined, 'QMP times reported');
    assert.ok(rep.networkDowntimeMs !== undefined, 'the probe measured the network downtime');

    const addr = await exec(VM, ['ip', '-4', 'addr']);
    assert.ok(addr.includes(`inet ${rep.target.podIPv4}/`), addr);
    assert.ok(!addr.includes(`inet ${rep.source.podIPv4}/`), addr);
    // IPv6 moves too (kubevirt#17841): the guest drops the source prefix's SLAAC and DHCPv6
    // addresses on the carrier flap and takes the target pod's.
    const want6 = after.interfaces[0]?.ipv6?.expect;
    const old6 = before.interfaces[0]?.ipv6?.expect;
    assert.ok(
      want6 !== undefined && old6 !== undefined && want6 !== old6,
      'a new IPv6 pod address',
    );
    const prefixOf = (a: string): string => `${a.split('::')[0]!}:`;
    let addr6 = '';
    const moved6 = (): boolean =>
      addr6.includes(`inet6 ${want6}/`) && !addr6.includes(`inet6 ${prefixOf(old6)}`);
    const end6 = Date.now() + 60_000;
    while (!moved6() && Date.now() < end6) {
      addr6 = await exec(VM, ['ip', '-6', 'addr', 'show', 'scope', 'global']);
      if (!moved6()) await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(moved6(), `the guest's IPv6 moved to ${prefixOf(want6)}: (not ${old6})\n${addr6}`);
    assert.ok(
      (await exec(VM, ['wget', '-q', '-O', '-', 'http://10.96.0.20/'])).includes(HTTP_MARKER),
      "the guest reaches the node's HTTP server",
    );
    assertSourceGone(before);
    const st = await bindery(env, ['status', ...stateArgs]);
    assert.match(
      st.stdout,
      new RegExp(`^${VM}\\s+passtnet.*${rep.target.podIPv4.replace(/\./g, '\\.')}/24`, 'm'),
    );
  });

  await t.test('--keep-ip: the target pod keeps the IP, the guest its address', async () => {
    const before = state(VM);
    const ipBefore = before.interfaces[0]?.ipv4;
    const rep = await migrate(['--keep-ip']);
    assert.equal(rep.target.podIPv4, rep.source.podIPv4);
    assert.notEqual(state(VM).pod, before.pod);
    assert.equal(rep.interfaces[0]?.ipv4After, ipBefore);
    assert.ok(rep.networkDowntimeMs !== undefined, 'the node reaches the guest at the kept IP');
    assert.deepEqual(
      rep.warnings.filter((w) => /TCP hand-over/.test(w)),
      [],
      'the hand-over went through (migrate-keep.test.ts streams across it)',
    );
    const addr = await exec(VM, ['ip', '-4', 'addr']);
    assert.ok(addr.includes(`inet ${ipBefore}`), addr);
    assert.ok(
      (await exec(VM, ['wget', '-q', '-O', '-', 'http://10.96.0.20/'])).includes(HTTP_MARKER),
      'the guest still reaches the node',
    );
    assertSourceGone(before);
  });

  await t.test('a migration that fails leaves the source running and no target', async () => {
    const before = state(VM);
    const nsBefore = leftovers(env).ns;
    // A deadline no memory transfer meets: QMP migrate_cancel, the source resumed.
    const r = await bindery(env, ['migrate', VM, '--timeout', '0.001', ...stateArgs]);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /did not complete/);
    assert.match(r.stderr, /BINDERY_ERR_MIGRATE/);
    const after = state(VM);
    assert.equal(after.pod, before.pod, 'the run still names the source pod');
    assert.deepEqual(after.otherPods ?? [], []);
    assert.deepEqual(leftovers(env).ns, nsBefore, 'the target pod is gone');
    assert.match(await exec(VM, ['echo', 'still-here']), /still-here/);
  });

  await t.test(
    'masquerade: the guest keeps 10.0.2.2, the node reaches it at the new pod IP',
    async () => {
      const up = await bindery(env, [
        'up',
        join(EXAMPLES, 'kubevirt-masquerade.yaml'),
        ...stateArgs,
      ]);
      assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
      const before = state('vm-masq');
      const rep = await migrate([], 'vm-masq');
      assert.notEqual(rep.target.podIPv4, rep.source.podIPv4);
      assert.equal(rep.interfaces[0]?.action, 'none');
      assert.equal(rep.interfaces[0]?.ipv4After, '10.0.2.2/24');
      assert.ok(
        rep.networkDowntimeMs !== undefined,
        'the node reaches the guest at the new pod IP',
      );
      assert.ok(
        (await exec('vm-masq', ['wget', '-q', '-O', '-', 'http://10.96.0.20/'])).includes(
          HTTP_MARKER,
        ),
        'the guest reaches the node',
      );
      assertSourceGone(before);
    },
  );

  await t.test('a migrate killed mid-way is undone by down', async () => {
    let sent = false;
    const r = await bindery(env, ['migrate', 'vm-masq', ...stateArgs], {
      onStdout: (all, kill) => {
        if (!sent && /\] migrate: /.test(all)) {
          sent = true;
          kill('SIGKILL');
        }
      },
    });
    assert.ok(sent, `reached the migrate step\n${r.stdout}\n${r.stderr}`);
    assert.equal(r.signal, 'SIGKILL');
    const st = state('vm-masq');
    assert.equal(st.otherPods?.length, 1, 'the target pod is in the state');
    assert.ok(leftovers(env).ns.includes(st.otherPods[0]!.pod), 'and exists');
  });

  await t.test('down leaves nothing behind', async () => {
    assert.equal((await bindery(env, ['down', VM, 'vm-masq', ...stateArgs])).code, 0);
    await waitFor(() => leftovers(env).procs.length === 0, 10_000, 'processes gone');
    assertClean('up + two migrations + down');
  });
});
