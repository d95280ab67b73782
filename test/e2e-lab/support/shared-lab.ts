import type { LabUpOptions } from '../../../lab/index.js';

/**
 * The lab that the lab test files able to share one run on in `npm test`: scripts/test.sh
 * brings it up before the lab tests (shared-lab-main.ts), names it in this variable, and
 * removes it after them. A lab takes ~15 s to come up and go down; most files need nothing
 * but plain hosts. Files that kill or cut off hosts, restart etcd or controllers, or need
 * other sizes, counts or settings bring up labs of their own (useLab in lab-world.ts).
 */
export const SHARED_LAB_ENV = 'DOKKAA_TEST_SHARED_LAB';

/**
 * What the shared lab is: 3 plain hosts (TLS and etcd roles as by default, one controller,
 * one etcd member), a 4 s TTL, and the labels the sharing files' constraints use (disk for
 * constraints, zone for secrets and registry credentials).
 */
export const SHARED_LAB: Required<Pick<LabUpOptions, 'nodes' | 'ttlSeconds' | 'labels'>> = {
  nodes: 3,
  ttlSeconds: 4,
  labels: { n1: { disk: 'ssd', zone: 'a' }, n2: { disk: 'hdd', zone: 'b' }, n3: { disk: 'ssd', zone: 'c' } },
};
