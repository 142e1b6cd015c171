// Child of udp-batch.test.ts, run inside its namespace: fills a tiny send buffer with sendmmsg and prints what went.
//
// The destination's neighbour never answers ARP, so the kernel holds the datagrams (charged to
// the socket's send buffer) in the neighbour queue and sendmmsg meets EAGAIN part-way.
import { tcpClose } from '../../src/native/tcp.js';
import { tcpSetBuffers } from '../../src/native/repair.js';
import { udpSendMany, udpSocket } from '../../src/native/udp.js';

const [addr = '', port = '9'] = process.argv.slice(2);
const [s] = udpSocket(4, undefined, { addr, port: Number(port) });
tcpSetBuffers(s, 1, 0); // the kernel's minimum (a few kB)
const bufs = Array.from({ length: 64 }, () => new Uint8Array(1000));
const first = udpSendMany(s, bufs, bufs.length, 4);
const again = udpSendMany(s, bufs, bufs.length, 4);
tcpClose(s, false);
console.log(JSON.stringify({ first, again }));
