// diagnostics_channel events of the storage task manager: every task state transition, the pool's
// refusals, and job progress. Metrics, debug logging and tests subscribe; the core never imports them.
import diagnostics_channel from 'node:diagnostics_channel';

export interface TaskStateEvent {
  taskId: string;
  name: string;
  tag: string;
  from: string;
  to: string;
}

export interface TaskProgressEvent {
  taskId: string;
  name: string;
  percent: number;
  step: string;
}

export const taskChannels = {
  /** TaskStateEvent on every transition (after it is applied, before it is persisted). */
  state: diagnostics_channel.channel('vdsm:storage:task-state'),
  /** TaskProgressEvent when a long step reports progress. */
  progress: diagnostics_channel.channel('vdsm:storage:task-progress'),
};
