// `bindery demo`: a guest in a network namespace, answered by bindery's packet engine over a tap.
//
// Until `bindery up` boots real VMs, this is the most complete thing bindery runs end to end: a
// namespace stands in for the guest, its kernel ARPs, solicits neighbours and pings the gateway
// through a tap that bindery serves from outside the namespace, and bindery's responder answers.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openTap, type TapDevice } from '../native/index.js';
import { respond, newCounters, type ResponderCounters } from '../usernet/iface/responder.js';
import { newGuestPacket, parseGuestFrame } from '../usernet/iface/packet.js';
import { parseIpv4, parseIpv6, parseMac } from '../wire/common.js';
import { BinderyError, ErrorCode } from '../errors.js';

const run = promisify(execFile);

/** Where the demo prints. */
export interface DemoIo {
  out(text: string): void;
}

/** Demo addresses: the guest side in the namespace, the gateway answered by bindery. */
export const DEMO = {
  guest4: '10.0.2.15/24',
  gateway4: '10.0.2.2',
  guest6: 'fd00:bd::15/64',
  gateway6: 'fd00:bd::2',
  ourMac: '9a:55:9a:55:9a:55',
} as const;

async function ip(...args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (e) {
    const msg = (e as { stderr?: string }).stderr?.trim() ?? String(e);
    throw new BinderyError(ErrorCode.Lab, `ip ${args.join(' ')}: ${msg}`, { cause: e });
  }
}

async function inNs(ns: string, argv: string[], io: DemoIo): Promise<boolean> {
  io.out(`\n$ ${argv.join(' ')}\n`);
  try {
    const r = await run('ip', ['netns', 'exec', ns, ...argv], { timeout: 30_000 });
    io.out(r.stdout);
    return true;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    io.out((err.stdout ?? '') + (err.stderr ?? ''));
    return false;
  }
}

/**
 * Runs the demo: creates namespace `ns`, serves a tap in it, pings the gateway over IPv4 and
 * IPv6, prints what happened and the responder's counters, and always removes the namespace.
 * Returns true when both pings succeeded.
 */
export async function runDemo(io: DemoIo, ns = `bindery-demo-${process.pid}`): Promise<boolean> {
  let tap: TapDevice | undefined;
  const counters: ResponderCounters = newCounters();
  await ip('netns', 'add', ns);
  try {
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    tap = openTap({ netns: ns, name: 'eth0', mtu: 1500, up: true });
    const t = tap;
    const cfg = {
      ourMac: parseMac(DEMO.ourMac)!,
      gateway4: parseIpv4(DEMO.gateway4)!,
      gateways6: [parseIpv6(DEMO.gateway6)!, parseIpv6('fe80::1')!],
      guest4: parseIpv4(DEMO.guest4.split('/')[0]!)!,
    };
    t.onFrames((frames) => {
      const replies: Uint8Array[] = [];
      const packet = newGuestPacket();
      for (const f of frames)
        replies.push(...respond(cfg, parseGuestFrame(f, false, packet), counters));
      if (replies.length > 0) t.send(replies);
    });
    await ip('-n', ns, 'addr', 'add', DEMO.guest4, 'dev', t.name);
    await ip('-n', ns, '-6', 'addr', 'add', DEMO.guest6, 'dev', t.name, 'nodad');
    await ip('-n', ns, 'route', 'add', 'default', 'via', DEMO.gateway4);
    io.out(
      `bindery demo: namespace ${ns} is the guest; bindery serves its tap ${t.name} from outside\n`,
    );
    io.out(
      `guest ${DEMO.guest4} and ${DEMO.guest6}; gateway ${DEMO.gateway4} and ${DEMO.gateway6} (MAC ${DEMO.ourMac})\n`,
    );
    const ok4 = await inNs(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', DEMO.gateway4], io);
    const ok6 = await inNs(
      ns,
      ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', DEMO.gateway6],
      io,
    );
    await inNs(ns, ['ip', 'neigh', 'show'], io);
    const d = counters.drops;
    io.out(
      `\nresponder: ${counters.rxFrames} frames in, ${counters.txFrames} out — ${counters.arpReplies} ARP replies, ` +
        `${counters.neighborAdverts} neighbour adverts, ${counters.echoReplies4}+${counters.echoReplies6} echo replies, ` +
        `${counters.ignored} not for us, drops ${JSON.stringify(d)}\n`,
    );
    io.out(ok4 && ok6 ? 'demo: OK\n' : 'demo: FAILED\n');
    return ok4 && ok6;
  } finally {
    try {
      tap?.close();
    } finally {
      await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    }
  }
}
