// Tests of the hook sidecar's domain mutation: round trip, replace/append, memoryBacking, ports, errors, virt-xml-validate.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { BinderyError, ErrorCode } from '../errors.js';
import { ISTIO_RESERVED_PORTS } from './nftables.js';
import { decodeHookVmi, onDefineDomain, type DomainHookOptions } from './domain-hook.js';

const RUN = process.env.BINDERY_RUN_ID ?? 'dev';
const FIXTURES = new URL('../../test/fixtures/sidecar/', import.meta.url);
const DOMAIN = readFileSync(new URL('domain.xml', FIXTURES), 'utf8');
const VMI_TEXT = readFileSync(new URL('vmi.json', FIXTURES), 'utf8');
const PASST: DomainHookOptions = { binding: 'passt', attachment: 'passt' };
const PASST_VU: DomainHookOptions = { ...PASST, vhostUser: true };
const TAP: DomainHookOptions = { binding: 'mytap', attachment: 'tap' };

type Json = Record<string, unknown>;
function vmi(mutate: (v: Json & { spec: Json & { domain: Json } }) => void = () => {}): string {
  const v = JSON.parse(VMI_TEXT) as Json & { spec: Json & { domain: Json } };
  mutate(v);
  return JSON.stringify(v);
}
function ifaces(v: Json & { spec: Json & { domain: Json } }): Json[] {
  return (v.spec.domain['devices'] as { interfaces: Json[] }).interfaces;
}

// ---- helpers: a canonical tree of the XML (order, attributes, comments, CDATA kept) ----------

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  commentPropName: '#comment',
  cdataPropName: '#cdata',
  ignoreDeclaration: false,
  ignorePiTags: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
});
type Node = Record<string, unknown>;
function tree(xml: string): Node[] {
  return parser.parse(xml) as Node[];
}
function tagOf(n: Node): string {
  return Object.keys(n).find((k) => k !== ':@')!;
}
function kids(n: Node): Node[] {
  return n[tagOf(n)] as Node[];
}
function attrs(n: Node): Record<string, string> {
  return (n[':@'] ?? {}) as Record<string, string>;
}
function domainOf(xml: string): Node {
  return tree(xml).find((n) => tagOf(n) === 'domain')!;
}
function child(n: Node, tag: string): Node | undefined {
  return kids(n).find((c) => tagOf(c) === tag);
}
function aliasOf(n: Node): string | undefined {
  const a = kids(n).find((c) => tagOf(c) === 'alias');
  return a ? attrs(a)['@name'] : undefined;
}
function interfaces(xml: string): Node[] {
  return kids(child(domainOf(xml), 'devices')!).filter((c) => tagOf(c) === 'interface');
}
function iface(xml: string, alias: string): Node | undefined {
  return interfaces(xml).find((i) => aliasOf(i) === alias);
}
/** The document with the given interfaces and memoryBacking left out, for "the rest is kept". */
function without(xml: string, aliases: readonly string[]): Node[] {
  const strip = (nodes: Node[]): Node[] =>
    nodes
      .filter((n) => {
        const t = tagOf(n);
        if (t === 'memoryBacking') return false;
        if (t === 'interface' && aliases.includes(aliasOf(n) ?? '')) return false;
        return true;
      })
      .map((n) => {
        const t = tagOf(n);
        const v = n[t];
        return Array.isArray(v) ? { ...n, [t]: strip(v as Node[]) } : n;
      });
  return strip(tree(xml));
}
/** One child element as `{tag, attributes}` for compact assertions. */
function shape(n: Node): Array<[string, Record<string, string>]> {
  return kids(n)
    .filter((c) => !tagOf(c).startsWith('#'))
    .map((c) => [tagOf(c), attrs(c)]);
}
function ranges(n: Node): Array<[string, string[]]> {
  return kids(n)
    .filter((c) => tagOf(c) === 'portForward')
    .map((pf) => [
      attrs(pf)['@proto']!,
      kids(pf).map((r) => {
        const a = attrs(r);
        return a['@exclude'] === 'yes' ? `~${a['@start']}` : a['@start']!;
      }),
    ]);
}

function hookError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BinderyError, `a BinderyError, got ${String(e)}`);
    assert.equal(e.code, ErrorCode.HookInput);
    assert.match(e.message, pattern);
    return true;
  });
}

// ---- virt-xml-validate on every mutated domain ----------------------------------------------

const canValidate = spawnSync('virt-xml-validate', ['--help']).error === undefined;
let dir = '';
let seq = 0;
before(() => {
  dir = mkdtempSync(join(tmpdir(), `bindery-lab-${RUN}-domhook-`));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});
function assertValid(xml: string): void {
  if (!canValidate) return;
  const file = join(dir, `d${seq++}.xml`);
  writeFileSync(file, xml);
  const r = spawnSync('virt-xml-validate', [file, 'domain'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `virt-xml-validate: ${r.stdout}${r.stderr}\n${xml}`);
}
/** Canonical XML (xmllint --c14n): what a conforming parser reads, written one way. */
function c14n(xml: string): string {
  const r = spawnSync('xmllint', ['--c14n', '-'], { input: xml, encoding: 'utf8' });
  assert.equal(r.status, 0, `xmllint: ${r.error?.message ?? ''}${r.stderr}`);
  return r.stdout;
}
function run(domainXml: string, vmiJson: string, opts: DomainHookOptions) {
  const r = onDefineDomain(domainXml, vmiJson, opts);
  assertValid(r.domainXml);
  return r;
}

test('virt-xml-validate is installed (libvirt >= 11.1 for passt vhost-user)', () => {
  assert.ok(canValidate, 'virt-xml-validate missing: run scripts/setup-debian.sh');
  assertValid(DOMAIN);
});

// ---- the chain of two sidecars on a realistic domain ----------------------------------------

test('passt (vhost-user) then tap sidecar: interfaces, memoryBacking, everything else kept', () => {
  const a = run(DOMAIN, VMI_TEXT, PASST_VU);
  assert.deepEqual(a.changes, [
    'appended interface ua-default',
    'added memoryBacking (memfd, shared)',
  ]);
  const b = run(a.domainXml, VMI_TEXT, TAP);
  assert.deepEqual(b.changes, ['replaced interface ua-blue']);
  assert.deepEqual(b.notes, []);
  const out = b.domainXml;

  const def = iface(out, 'ua-default')!;
  assert.equal(attrs(def)['@type'], 'vhostuser');
  assert.deepEqual(shape(def).slice(0, 5), [
    ['source', { '@dev': 'eth0' }],
    ['model', { '@type': 'virtio-non-transitional' }],
    ['mac', { '@address': '02:00:00:0a:0b:0c' }],
    ['alias', { '@name': 'ua-default' }],
    ['backend', { '@type': 'passt', '@logFile': '/var/run/kubevirt/passt.log' }],
  ]);
  assert.deepEqual(ranges(def), [
    ['tcp', ['80', '443']],
    ['udp', ['53']],
  ]);
  // The tap interface: re-rendered from the plan, address/MAC/MTU carried over.
  assert.deepEqual(shape(iface(out, 'ua-blue')!), [
    [
      'address',
      { '@type': 'pci', '@domain': '0x0000', '@bus': '0x01', '@slot': '0x00', '@function': '0x0' },
    ],
    ['target', { '@dev': 'tap16477688c0e', '@managed': 'no' }],
    ['model', { '@type': 'virtio-non-transitional' }],
    ['mac', { '@address': '0a:58:0a:f4:00:07' }],
    ['mtu', { '@size': '1400' }],
    ['alias', { '@name': 'ua-blue' }],
    ['rom', { '@enabled': 'no' }],
  ]);
  // Interfaces stay together: ua-blue (replaced in place), then ua-default (appended after it).
  assert.deepEqual(interfaces(out).map(aliasOf), ['ua-blue', 'ua-default']);
  const dom = domainOf(out);
  assert.deepEqual(shape(child(dom, 'memoryBacking')!), [
    ['source', { '@type': 'memfd' }],
    ['access', { '@mode': 'shared' }],
  ]);
  // memoryBacking goes right after <memory>.
  const order = kids(dom)
    .map(tagOf)
    .filter((t) => !t.startsWith('#'));
  assert.deepEqual(order.slice(0, 4), ['name', 'memory', 'memoryBacking', 'os']);
  // Everything else: the same tree (namespaces, qemu:commandline, comment, metadata, order).
  assert.deepEqual(without(out, ['ua-default', 'ua-blue']), without(DOMAIN, ['ua-blue']));
  assert.match(out, /xmlns:qemu="http:\/\/libvirt.org\/schemas\/domain\/qemu\/1.0"/);
  assert.match(out, /<!-- generated by virt-launcher; hook sidecars run next -->/);
  assert.match(out, /<kubevirt xmlns="http:\/\/kubevirt.io">/);
  // Indentation follows the domain's: the appended interface sits on its own lines.
  assert.match(out, /\n {4}<interface type="vhostuser">\n {6}<source dev="eth0"\/>/);
});

test('the chain in the other order gives the same interfaces', () => {
  const ab = run(run(DOMAIN, VMI_TEXT, PASST_VU).domainXml, VMI_TEXT, TAP).domainXml;
  const ba = run(run(DOMAIN, VMI_TEXT, TAP).domainXml, VMI_TEXT, PASST_VU).domainXml;
  assert.deepEqual(without(ab, []), without(ba, []));
});

test('running a sidecar twice changes nothing more (replaces its own interface)', () => {
  const once = run(DOMAIN, VMI_TEXT, PASST_VU).domainXml;
  const twice = run(once, VMI_TEXT, PASST_VU);
  assert.deepEqual(twice.changes, ['replaced interface ua-default']);
  assert.deepEqual(tree(twice.domainXml), tree(once));
});

// ---- passt type='user' and replacement in place ---------------------------------------------

test("passt default is type='user' without memoryBacking", () => {
  const r = run(DOMAIN, VMI_TEXT, PASST);
  const def = iface(r.domainXml, 'ua-default')!;
  assert.equal(attrs(def)['@type'], 'user');
  assert.equal(child(domainOf(r.domainXml), 'memoryBacking'), undefined);
  assert.deepEqual(r.changes, ['appended interface ua-default']);
});

test('an existing ua-default interface is replaced in place, others untouched', () => {
  const dom = DOMAIN.replace(
    '    <channel type="unix">',
    '    <interface type="ethernet">\n      <target dev="tap0" managed="no"></target>\n      <model type="e1000"></model>\n      <alias name="ua-default"></alias>\n    </interface>\n    <channel type="unix">',
  );
  assertValid(dom);
  const r = run(dom, VMI_TEXT, PASST);
  assert.deepEqual(r.changes, ['replaced interface ua-default']);
  assert.deepEqual(interfaces(r.domainXml).map(aliasOf), ['ua-blue', 'ua-default']);
  const def = iface(r.domainXml, 'ua-default')!;
  assert.equal(attrs(def)['@type'], 'user');
  assert.equal(child(def, 'target'), undefined);
  // The spec's MAC wins over nothing; the VMI's model (virtio) replaces e1000.
  assert.deepEqual(attrs(child(def, 'model')!), { '@type': 'virtio-non-transitional' });
  assert.deepEqual(without(r.domainXml, ['ua-default']), without(dom, ['ua-default']));
});

test('a MAC the replaced interface had is kept when the spec gives none', () => {
  const dom = DOMAIN.replace(
    '    <channel type="unix">',
    '    <interface type="user">\n      <mac address="0a:58:0a:00:00:09"></mac>\n      <alias name="ua-default"></alias>\n    </interface>\n    <channel type="unix">',
  );
  const v = vmi((x) => delete ifaces(x)[0]!['macAddress']);
  const r = run(dom, v, PASST);
  assert.deepEqual(attrs(child(iface(r.domainXml, 'ua-default')!, 'mac')!), {
    '@address': '0a:58:0a:00:00:09',
  });
});

test('a domain without interfaces (nor devices) gets one appended', () => {
  const bare =
    "<domain type='kvm'><name>x</name><memory>1024</memory><os><type>hvm</type></os></domain>";
  const r = run(bare, VMI_TEXT, PASST);
  assert.deepEqual(r.changes, ['added devices', 'appended interface ua-default']);
  assert.equal(interfaces(r.domainXml).length, 1);
  const pretty = run(DOMAIN.replace(/<interface[\s\S]*?<\/interface>\n/, ''), VMI_TEXT, PASST);
  assert.deepEqual(interfaces(pretty.domainXml).map(aliasOf), ['ua-default']);
});

test('the pod link comes from the VMI status, else from the naming scheme', () => {
  const v = vmi((x) => {
    const st = x['status'] as { interfaces: Json[] };
    st.interfaces[0]!['podInterfaceName'] = 'ovn-udn1';
  });
  const r = run(DOMAIN, v, PASST);
  assert.deepEqual(attrs(child(iface(r.domainXml, 'ua-default')!, 'source')!), {
    '@dev': 'ovn-udn1',
  });
  const noStatus = vmi((x) => delete x['status']);
  const r2 = run(DOMAIN, noStatus, PASST);
  assert.deepEqual(attrs(child(iface(r2.domainXml, 'ua-default')!, 'source')!), { '@dev': 'eth0' });
});

test('useVirtioTransitional, pciAddress, acpiIndex and a non-virtio model', () => {
  const v = vmi((x) => {
    const d = x.spec.domain['devices'] as Json;
    d['useVirtioTransitional'] = true;
    Object.assign(ifaces(x)[0]!, { pciAddress: '0000:02:01.0', acpiIndex: 3 });
    Object.assign(ifaces(x)[1]!, { model: 'e1000e' });
  });
  const r = run(run(DOMAIN, v, PASST).domainXml, v, TAP);
  const def = iface(r.domainXml, 'ua-default')!;
  assert.deepEqual(attrs(child(def, 'model')!), { '@type': 'virtio-transitional' });
  assert.deepEqual(attrs(child(def, 'address')!), {
    '@type': 'pci',
    '@domain': '0x0000',
    '@bus': '0x02',
    '@slot': '0x01',
    '@function': '0x0',
  });
  assert.deepEqual(attrs(child(def, 'acpi')!), { '@index': '3' });
  assert.deepEqual(attrs(child(iface(r.domainXml, 'ua-blue')!, 'model')!), { '@type': 'e1000e' });
});

// ---- ports and Istio -------------------------------------------------------------------------

test('no ports forwards everything (tcp and udp with no ranges)', () => {
  const v = vmi((x) => delete ifaces(x)[0]!['ports']);
  const def = iface(run(DOMAIN, v, PASST).domainXml, 'ua-default')!;
  assert.deepEqual(ranges(def), [
    ['tcp', []],
    ['udp', []],
  ]);
});

test('Istio excludes its ports from tcp; with no ports there is no udp element (KubeVirt quirk)', () => {
  const istio = ISTIO_RESERVED_PORTS.map((p) => `~${p}`);
  const withPorts = vmi((x) => {
    (x['metadata'] as { annotations: Json }).annotations['sidecar.istio.io/inject'] = 'true';
  });
  assert.deepEqual(ranges(iface(run(DOMAIN, withPorts, PASST).domainXml, 'ua-default')!), [
    ['tcp', [...istio, '80', '443']],
    ['udp', ['53']],
  ]);
  const noPorts = vmi((x) => {
    (x['metadata'] as { annotations: Json }).annotations['sidecar.istio.io/inject'] = 'true';
    delete ifaces(x)[0]!['ports'];
  });
  assert.deepEqual(ranges(iface(run(DOMAIN, noPorts, PASST).domainXml, 'ua-default')!), [
    ['tcp', istio],
  ]);
});

test('lower-case protocols count; UDP only gives only a udp element', () => {
  const v = vmi((x) => {
    ifaces(x)[0]!['ports'] = [
      { port: 5353, protocol: 'udp' },
      { port: 69, protocol: 'UDP' },
    ];
  });
  assert.deepEqual(ranges(iface(run(DOMAIN, v, PASST).domainXml, 'ua-default')!), [
    ['udp', ['5353', '69']],
  ]);
});

// ---- memoryBacking for vhost-user -----------------------------------------------------------

test('an existing memoryBacking gets shared access and memfd; hugepages are kept', () => {
  const dom = DOMAIN.replace(
    '  <os>',
    '  <memoryBacking>\n    <hugepages>\n      <page size="2048" unit="KiB"></page>\n    </hugepages>\n  </memoryBacking>\n  <os>',
  );
  assertValid(dom);
  const r = run(dom, VMI_TEXT, PASST_VU);
  assert.deepEqual(r.changes, [
    'appended interface ua-default',
    'memoryBacking: added access mode shared',
    'memoryBacking: added source memfd',
  ]);
  const mb = child(domainOf(r.domainXml), 'memoryBacking')!;
  assert.deepEqual(
    shape(mb).map(([t]) => t),
    ['hugepages', 'access', 'source'],
  );
  assert.deepEqual(attrs(child(mb, 'access')!), { '@mode': 'shared' });
});

test('an existing shared access and a file source are left as they are', () => {
  const dom = DOMAIN.replace(
    '  <os>',
    '  <memoryBacking>\n    <source type="file"></source>\n    <access mode="shared"></access>\n  </memoryBacking>\n  <os>',
  );
  const r = run(dom, VMI_TEXT, PASST_VU);
  assert.deepEqual(r.changes, ['appended interface ua-default']);
  assert.deepEqual(shape(child(domainOf(r.domainXml), 'memoryBacking')!), [
    ['source', { '@type': 'file' }],
    ['access', { '@mode': 'shared' }],
  ]);
});

test('a private access mode is an error for vhost-user, as in KubeVirt, but fine for user', () => {
  const dom = DOMAIN.replace(
    '  <os>',
    '  <memoryBacking>\n    <access mode="private"></access>\n  </memoryBacking>\n  <os>',
  );
  hookError(() => onDefineDomain(dom, VMI_TEXT, PASST_VU), /access mode is 'private'.*'shared'/);
  const r = run(dom, VMI_TEXT, PASST);
  assert.deepEqual(r.changes, ['appended interface ua-default']);
});

// ---- tap / managedTap ------------------------------------------------------------------------

test("managedTap renders the same <interface type='ethernet'> on the plan's tap", () => {
  const r = run(DOMAIN, VMI_TEXT, { binding: 'mytap', attachment: 'managedTap' });
  const blue = iface(r.domainXml, 'ua-blue')!;
  assert.equal(attrs(blue)['@type'], 'ethernet');
  assert.deepEqual(attrs(child(blue, 'target')!), { '@dev': 'tap16477688c0e', '@managed': 'no' });
});

test('a tap binding on the pod network uses tap0', () => {
  const r = run(DOMAIN, VMI_TEXT, { binding: 'passt', attachment: 'tap' });
  const def = iface(r.domainXml, 'ua-default')!;
  assert.equal(attrs(def)['@type'], 'ethernet');
  assert.deepEqual(attrs(child(def, 'target')!), { '@dev': 'tap0', '@managed': 'no' });
});

// ---- nothing to do ---------------------------------------------------------------------------

test('a binding no interface uses leaves the domain as it was, with a note', () => {
  const r = run(DOMAIN, VMI_TEXT, { binding: 'other', attachment: 'passt' });
  assert.deepEqual(r.changes, []);
  assert.match(r.notes[0]!, /no interface of the VMI uses binding 'other'/);
  assert.deepEqual(tree(r.domainXml), tree(DOMAIN));
});

test('an absent interface is left out', () => {
  const v = vmi((x) => (ifaces(x)[0]!['state'] = 'absent'));
  const r = run(DOMAIN, v, PASST);
  assert.deepEqual(r.changes, []);
  assert.equal(iface(r.domainXml, 'ua-default'), undefined);
});

// ---- round trip of what the hook does not own -----------------------------------------------

test('declaration, comments, CDATA, processing instructions, entities and namespaces survive', () => {
  const dom = `<?xml version="1.0" encoding="UTF-8"?>
<!-- before the root -->
<domain type="kvm" xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0">
  <name>a&amp;b</name>
  <memory unit="KiB">1024</memory>
  <description><![CDATA[raw <text> & more]]></description>
  <?bindery keep me?>
  <os><type>hvm</type></os>
  <devices>
    <!-- a device comment -->
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
  </devices>
  <qemu:commandline>
    <qemu:arg value='say "hi" &lt;there&gt;'/>
  </qemu:commandline>
</domain>
`;
  assertValid(dom);
  const r = run(dom, VMI_TEXT, PASST);
  const out = r.domainXml;
  assert.match(out, /^<\?xml version="1.0" encoding="UTF-8"\?>/);
  assert.match(out, /<!-- before the root -->/);
  assert.match(out, /<!\[CDATA\[raw <text> & more\]\]>/);
  assert.match(out, /<\?bindery keep me\?>/);
  assert.match(out, /<!-- a device comment -->/);
  assert.deepEqual(without(out, ['ua-default']), without(dom, []));
  // Without a declaration in, none out (virt-launcher's domain has none).
  assert.doesNotMatch(run(DOMAIN, VMI_TEXT, PASST).domainXml, /^<\?xml/);
});

test('whitespace means the same after the round trip: references kept, literals normalised, CRLF', () => {
  const dom =
    '<domain type="kvm" xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0">\r\n' +
    '  <name>x</name><memory>1024</memory><os><type>hvm</type></os>\r\n' +
    '  <description>cr&#13;kept\r\ncrlf read as lf<![CDATA[ a="\n" ]]></description>\r\n' +
    '  <!-- a="\n" in a comment is no attribute -->\r\n' +
    '  <qemu:commandline><qemu:arg value="a&#10;b&#x9;c&#13;d"/>' +
    '<qemu:arg value=\'literal\n"tab"\there\'/></qemu:commandline>\r\n' +
    '</domain>';
  assertValid(dom);
  // A binding no interface uses: the domain must mean exactly what it meant.
  const out = run(dom, VMI_TEXT, { binding: 'other', attachment: 'passt' }).domainXml;
  assert.match(out, /<qemu:arg value="a&#xA;b&#x9;c&#xD;d"\/>/);
  assert.match(out, /<qemu:arg value="literal &quot;tab&quot; here"\/>/);
  assert.match(
    out,
    /<description>cr&#xD;kept\ncrlf read as lf<!\[CDATA\[ a="\n" \]\]><\/description>/,
  );
  assert.match(out, /<!-- a="\n" in a comment is no attribute -->/);
  assert.doesNotMatch(out, /\r/);
  // What a conforming parser (libxml2, canonical XML) reads is the same before and after.
  assert.equal(c14n(out), c14n(dom));
});

// ---- malformed input -------------------------------------------------------------------------

test('malformed domain XML is a HookInput error naming the problem', () => {
  hookError(() => onDefineDomain('', VMI_TEXT, PASST), /domain XML: empty/);
  hookError(
    () => onDefineDomain('<domain><name>x</nam></domain>', VMI_TEXT, PASST),
    /domain XML: line 1, column \d+: .*closing tag/,
  );
  hookError(() => onDefineDomain('<domain><devices>', VMI_TEXT, PASST), /domain XML: /);
  hookError(() => onDefineDomain('<domain a="1" a="2"/>', VMI_TEXT, PASST), /repeated/);
  hookError(() => onDefineDomain('<network/>', VMI_TEXT, PASST), /root element is <network>/);
  hookError(() => onDefineDomain('not xml', VMI_TEXT, PASST), /domain XML: /);
});

test('a malformed VMI is a HookInput error naming the problem', () => {
  hookError(() => onDefineDomain(DOMAIN, '{', PASST), /VMI: not JSON/);
  hookError(() => onDefineDomain(DOMAIN, '[1]', PASST), /VMI: not a JSON object/);
  hookError(
    () => onDefineDomain(DOMAIN, '{"kind":"VirtualMachine"}', PASST),
    /kind is "VirtualMachine"/,
  );
  hookError(
    () =>
      onDefineDomain(
        DOMAIN,
        vmi((x) => (ifaces(x)[0]!['ports'] = 'http')),
        PASST,
      ),
    /VMI: spec.domain.devices.interfaces\[0\].ports: /,
  );
  hookError(
    () => onDefineDomain(DOMAIN, '{"metadata":{"name":"x"},"spec":{}}', PASST),
    /VMI: spec.domain: Required value/,
  );
});

test("unknown VMI fields (a newer KubeVirt's) are dropped with a note", () => {
  const v = vmi((x) => {
    ifaces(x)[0]!['futureField'] = { nested: true };
    (x.spec['networks'] as Json[])[0]!['pod'] = { someNewKnob: 1 };
  });
  const d = decodeHookVmi(v);
  assert.deepEqual([...d.dropped].sort(), [
    'spec.domain.devices.interfaces[0].futureField',
    'spec.networks[0].pod.someNewKnob',
  ]);
  const r = run(DOMAIN, v, PASST);
  assert.equal(r.notes.length, 2);
  assert.ok(iface(r.domainXml, 'ua-default'));
});
