// The lab's API for tests and scripts: several Docker hosts on this machine, one netns each.
export { labUp, labAddHost, type LabUpOptions, type LabUpResult, type LabAddHostOptions } from './lab-up.js';
export { parseHostCapacity, parseHostCapacities, type HostCapacity } from './host-capacity.js';
export { labDown, type LabDownOptions, type LabDownResult } from './lab-down.js';
export { labStatus, formatStatus, type LabStatus, type NodeStatus } from './lab-status.js';
export { killNode, restoreNode, partitionNode, healNode, killController, type FaultOptions } from './node-faults.js';
export { etcdClientUrls, etcdLeaderIndex, etcdMember, etcdMemberStatuses, ETCD_MEMBER_COUNTS, type EtcdMember, type EtcdMemberStatus } from './lab-etcd-cluster.js';
export { killEtcdMember, restoreEtcdMembers, type EtcdFaultOptions } from './etcd-member-faults.js';
export { readLeader, nodeRecords, isLiveRegistration } from './lab-agents.js';
export { labLayout, nodeLayout, controllerLogPath, repoRoot, DEFAULT_LAB, LAB_ROOT, type LabLayout, type NodeLayout } from './lab-layout.js';
export { readState, type LabState, type LabNodeState } from './lab-state.js';
export { etcdFlags, labClientConfig, labEtcdOptions, labEtcdEnv, type LabClient } from './lab-pki.js';
