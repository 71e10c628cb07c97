// Free loopback ports: the test kit's (held until bound; see its note on the remaining race).
export { freePort, freePorts, holdPorts, withFreshPorts } from '@kv/testkit';
