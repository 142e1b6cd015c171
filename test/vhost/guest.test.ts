// A QEMU 10 guest on `bindery passt --vhost-user` gets a working network: the stream suite's basic checks over vhost-user.
import { guestNetworkSuite } from '../qemu/passt-guest-suite.js';

guestNetworkSuite('vhost-user');
