// Task.* and the Host verbs about storage tasks, pools and domain health: getAllTasksStatuses /
// getAllTasksInfo (SPM tasks only, 654 unless SPM), getAllTasks, getConnectedStoragePools,
// getStorageRepoStats, getStorageDomains.
import { s } from './schema.js';
import type { ApiMethodsFactory, MethodSpec } from './method-table.js';
import type { StoragePort, TaskPort } from './storage-ports.js';

export interface TaskApiDeps {
  hsm: StoragePort;
  tasks: TaskPort;
}

const taskID = { name: 'taskID', type: s.string(), description: 'The task UUID.' } as const;
const taskStatus = s.named('TaskStatus', s.object({
  taskID: s.string(), taskState: s.enumOf(['init', 'running', 'finished', 'aborting', 'cleaning', 'unknown']),
  taskResult: s.enumOf(['', 'success', 'cleanSuccess', 'cleanFailure']), code: s.int(), message: s.string(),
}));
const taskInfo = s.named('TaskInfo', s.object({ id: s.string(), verb: s.string() }));
const vitals = s.named('StorageDomainVitals', s.object({
  code: s.int(), lastCheck: s.string(), delay: s.string(), valid: s.bool(), version: s.int(), acquired: s.bool(), actual: s.bool(),
}));

export const apiMethods: ApiMethodsFactory<TaskApiDeps> = ({ hsm, tasks }) => {
  const m: MethodSpec[] = [
    {
      name: 'Task.getStatus',
      description: 'Status of a task in vdsm\'s words: taskState init / running / finished / aborting / cleaning, taskResult success / cleanSuccess / cleanFailure.',
      params: [taskID],
      result: taskStatus,
      resultDescription: 'Error 401 for an unknown task, 1000 for a malformed id.',
      handler: ({ taskID: id }) => tasks.getTaskStatus(id),
    },
    {
      name: 'Task.getInfo',
      description: 'The task\'s id and verb.',
      params: [taskID],
      result: taskInfo,
      handler: ({ taskID: id }) => tasks.getTaskInfo(id),
    },
    {
      name: 'Task.stop',
      description: 'Stop a task: its job is aborted (qemu-img killed) and its recoveries run; a done task is left as it is.',
      params: [taskID],
      result: s.bool(),
      handler: ({ taskID: id }) => tasks.stopTask(id),
    },
    {
      name: 'Task.clear',
      description: 'Forget a done task and remove its persisted directory; 410 while it is not done.',
      params: [taskID],
      result: s.bool(),
      handler: async ({ taskID: id }) => {
        await tasks.clearTask(id);
        return true;
      },
    },
    {
      name: 'Task.revert',
      description: 'Run the recoveries of a finished task (403 while it runs).',
      params: [taskID],
      result: s.bool(),
      handler: async ({ taskID: id }) => {
        await tasks.revertTask(id);
        return true;
      },
    },
    {
      name: 'Host.getAllTasksStatuses',
      description: 'Status of every SPM task, from the moment its verb returned until Task.clear; 654 unless this host is SPM.',
      params: [],
      result: s.map(taskStatus),
      handler: () => hsm.getAllTasksStatuses(),
    },
    {
      name: 'Host.getAllTasksInfo',
      description: 'Id and verb of every SPM task (the engine adopts the ones listed when a pool comes up); 654 unless SPM.',
      params: [],
      result: s.map(taskInfo),
      handler: () => hsm.getAllTasksInfo(),
    },
    {
      name: 'Host.getAllTasks',
      description: 'Every task this host knows, with its internal state, code, message, result and tag.',
      params: [],
      result: s.map(s.map(s.any())),
      handler: () => tasks.getAllTasks(),
    },
    {
      name: 'Host.getConnectedStoragePools',
      description: 'The storage pool this host is connected to, if any.',
      params: [],
      result: s.array(s.string()),
      handler: () => hsm.getConnectedStoragePoolsList(),
    },
    {
      name: 'Host.getStorageRepoStats',
      description: 'Health of every monitored storage domain (Host.getStats storageDomains has the same).',
      params: [{ name: 'domains', type: s.array(s.string()), default: [], description: 'Only these domains (all when empty).' }],
      result: s.map(vitals),
      handler: ({ domains }) => hsm.repoStats(domains as string[]),
    },
    {
      name: 'Host.getStorageDomains',
      description: 'Storage domains this host can see, filtered by pool, class, type or remote path.',
      params: [
        { name: 'storagepoolID', type: s.string(), optional: true, description: 'Only this pool\'s domains.' },
        { name: 'domainClass', type: s.union(s.int(), s.string()), optional: true, description: 'Data, Iso or Backup.' },
        { name: 'storageType', type: s.union(s.int(), s.string()), optional: true, description: 'Storage type.' },
        { name: 'remotePath', type: s.string(), optional: true, description: 'Remote path.' },
      ],
      result: s.array(s.string()),
      handler: (a) => hsm.getStorageDomainsList(a),
    },
  ];
  return m;
};
