// A QEMU guest on `bindery passt`'s stream socket gets a working network: DHCP lease, ping to the gateway, UDP to the pod's loopback.
import { guestNetworkSuite } from './passt-guest-suite.js';

guestNetworkSuite('stream');
