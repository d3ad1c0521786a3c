// The one schema of vdsm.conf: vdsm's section and key names with vdsm's defaults (vdsm-notes §13.3),
// plus the keys vdsm-node adds (marked `ours`). Types, docs, the sample file and validation all come from here.
import { bool, float, int, list, oneOf, str, type KeySpec, type ValueOf } from './key-types.js';

const SECONDS = 'seconds';

function cpuList(value: string): string | undefined {
  const text = value.trim();
  if (text === '' || text === 'auto') return undefined;
  return text.split(',').every((part) => /^\s*\d+\s*$/.test(part)) ? undefined : 'expected auto, an empty value or a comma-separated list of CPU numbers';
}

function absolutePath(value: string): string | undefined {
  return value.startsWith('/') ? undefined : 'expected an absolute path';
}

export const schema = {
  vars: {
    ssl: bool(true, 'Serve the management port with TLS. When false the engine must be told to use plain TCP.'),
    verify_client_cert: bool(false, 'Require and verify a client certificate signed by the trust store on TLS connections.', { compat: 'issue 9 (reliability, src/rpc) is to apply it' }),
    trust_store_path: str('/etc/pki/vdsm', 'Directory holding the host key, host certificate and CA certificate (certs/, keys/).', { check: absolutePath }),
    jsonrpc_enable: bool(true, 'Accept JSON-RPC over STOMP on the management port.', { compat: 'no issue owns it yet (the acceptor always serves both; src/rpc is issue 9\'s area)' }),
    http_enable: bool(true, 'Accept HTTP requests on the management port (protocol detection picks them apart).', { compat: 'no issue owns it yet (the acceptor always serves both; src/rpc is issue 9\'s area)' }),
    broker_enable: bool(false, 'Connect out to a STOMP broker and serve requests from its queues.', { compat: true }),
    connection_stats_timeout: int(3600, `How long, in ${SECONDS}, per-connection statistics stay valid.`, { min: 0, compat: 'no issue owns it yet (per-connection statistics are not kept)' }),
    guest_agent_timeout: int(30, `Silence, in ${SECONDS}, after which an ovirt-guest-agent channel times out (its memory figure is dropped), and the wait between connect attempts after 5 failures.`, { min: 1 }),
    vm_command_timeout: int(60, `Time limit, in ${SECONDS}, for commands sent to a VM's QEMU monitor.`, { min: 1 }),
    vm_sample_interval: int(15, `Period, in ${SECONDS}, of VM bulk statistics sampling.`, { min: 1 }),
    vm_sample_jobs_interval: int(15, `Period, in ${SECONDS}, of sampling block jobs of running VMs.`, { min: 1, compat: 'no issue owns it yet (block jobs are not sampled)' }),
    host_sample_stats_interval: int(15, `Period, in ${SECONDS}, of host statistics sampling.`, { min: 1 }),
    vm_watermark_interval: int(2, `Period, in ${SECONDS}, of thin-provisioned drive watermark checks.`, { min: 1, compat: true }),
    sys_shutdown_timeout: int(120, `Time, in ${SECONDS}, a guest gets to shut down when the host shuts down.`, { min: 0 }),
    user_shutdown_timeout: int(30, `Default delay, in ${SECONDS}, the oVirt guest agent gives logged-in users before it shuts the guest down (VM.shutdown without \`delay\`).`, { min: 0 }),
    fence_agent_dir: str('/usr/sbin', 'Directory of the fence agents Host.fenceNode runs: fence_<agent> (the engine names the agent; only letters, digits, _ and - are accepted).', { check: absolutePath }),
    fence_timeout: int(60, `Time, in ${SECONDS}, a fence agent run by Host.fenceNode may take; then it is killed with its process group and the call fails.`, { min: 1 }),
    timeout_engine_clear_vms: int(15, `Time, in ${SECONDS}, to wait for the engine to migrate or stop VMs before the agent stops during host shutdown.`, { min: 0, compat: 'no issue owns it yet (host shutdown does not wait for the engine)' }),
    nowait_domain_stats: bool(true, 'Ask libvirt for domain statistics without waiting on a busy domain job lock.'),
    core_dump_enable: bool(true, 'Allow the daemon to write core dumps; false sets its core size limit to 0.'),
    cpu_affinity: str('auto', 'CPUs the daemon is pinned to: auto (one online CPU, preferably not CPU 0), empty for no pinning, or a comma-separated list of CPU numbers.', { check: cpuList }),
    vdsm_nice: int(-5, 'Scheduling niceness of the daemon.', { min: -20, max: 19 }),
    host_mem_reserve: int(256, 'Memory, in MiB, reserved for the host and never promised to guests.', { min: 0 }),
    guest_ram_overhead: int(65, 'Memory, in MiB, accounted per guest on top of its RAM for QEMU overhead.', { min: 0 }),
    extra_mem_reserve: int(65, 'Additional memory, in MiB, reserved for the host.', { min: 0 }),
    max_outgoing_migrations: int(2, 'Concurrent outgoing live migrations (the engine\'s outgoingLimit changes it per migration); more wait for a slot.', { min: 1 }),
    max_incoming_migrations: int(2, 'Concurrent incoming live migrations (the engine\'s incomingLimit changes it); more are refused with error 82 and the source tries again later. Also the restores from hibernation (VM.create with hiberVolHandle) run at once; more wait for one to end.', { min: 1 }),
    migration_downtime: int(500, 'Maximum guest downtime, in milliseconds, of the convergence schedule computed when the engine sends none (its last step).', { min: 0 }),
    migration_downtime_steps: int(5, 'Steps of that computed schedule: exponential downtimes up to migration_downtime, one per stalling iteration.', { min: 1 }),
    migration_max_bandwidth: int(52, 'Bandwidth cap, in MiB/s, of one live migration when the engine sends no maxBandwidth (0: libvirt\'s default, unlimited).', { min: 0 }),
    migration_listener_timeout: int(30, `Time, in ${SECONDS}, a migration destination waits for the source to connect.`, { min: 0, compat: 'vdsm-node prepares an incoming VM at once (no disks to prepare yet): nothing waits' }),
    migration_monitor_interval: int(10, `Period, in ${SECONDS}, of migration progress checks (job statistics, VM_migration_status events, the convergence schedule); 0 disables them.`, { min: 0 }),
    migration_retry_timeout: int(10, `Time, in ${SECONDS}, before asking a destination with no free incoming slot again.`, { min: 0 }),
    migration_destination_timeout: int(21600, `Time, in ${SECONDS}, a migration destination waits for the migration to finish before the VM is Down (migration failed).`, { min: 0 }),
    time_sync_cont_enable: bool(false, 'Set the guest\'s clock to the host\'s (virDomainSetTime through the QEMU guest agent, best effort) after VM.cont resumes a paused VM. A VM restored from hibernation has its clock set whatever this says.'),
    time_sync_snapshot_enable: bool(false, 'Set the guest\'s clock to the host\'s (virDomainSetTime through the QEMU guest agent, best effort) at the end of a snapshot job (VM.snapshot), which may have paused the guest while its memory was written.'),
    guest_lifecycle_event_reply_timeout: int(10, `Time, in ${SECONDS}, a migration or hibernation waits for the oVirt guest agent to confirm before_migration / before_hibernation (engines that ask for guest events), and a migrated VM's new channel to connect before after_migration is sent.`, { min: 0 }),
    migration_create_timeout: int(600, `Time, in ${SECONDS}, allowed for creating the VM on a migration destination (VM.migrationCreate).`, { min: 0 }),
    hotunplug_timeout: int(30, `Time, in ${SECONDS}, to wait for a guest to release a hot-unplugged device.`, { min: 0, compat: true }),
    fake_kvm_support: bool(false, 'Act as a KVM host of fake_kvm_architecture where there is no usable KVM (libvirt\'s test driver, TCG): report kvmEnabled, that architecture\'s emulated machines and a fake CPU with its model flags, and run the engine\'s kvm domains as a type the hypervisor offers, so an engine adds the host (vdsm\'s faqemu hook).'),
    fake_kvm_architecture: oneOf(['x86_64', 'ppc64', 'ppc64le', 'aarch64'], 'x86_64', 'Architecture a fake KVM host reports (with fake_kvm_support).'),
    report_host_threads_as_cores: bool(false, 'Report hardware threads as CPU cores in host capabilities.'),
    vds_responsiveness_timeout: int(60, `Time, in ${SECONDS}, after which the host is considered unresponsive.`, { min: 0, compat: true }),
    run_dir: str('/run/vdsm', 'Run-time directory: lock file, sockets, the runtime drop-in directory vdsm.conf.d/.', { ours: true, check: absolutePath }),
    state_dir: str('/var/lib/vdsm', 'Directory for state kept across restarts.', { ours: true, check: absolutePath }),
    hooks_dir: str('/usr/libexec/vdsm/hooks', 'Directory of the hook scripts: one sub-directory per hook point (before_vm_start, after_vm_destroy, ...), whose executable files run in name order (vdsm\'s fixed P_VDSM_HOOKS).', { ours: true, check: absolutePath }),
    hook_timeout: float(60, `Time limit, in ${SECONDS}, of one hook script: past it the script's process group is killed and the script counts as failed with exit code 2 (vdsm waits for ever).`, { ours: true, min: 0.001 }),
    guest_wait_timeout: int(60, `Time, in ${SECONDS}, a started VM stays Powering up without word from a guest agent before it is reported Up (vdsm's fixed 60 s).`, { ours: true, min: 0 }),
    fake_nics: str('dummy_*,veth_*', 'Comma-separated fnmatch patterns of virtual devices that host networking reports and uses as NICs (veth pairs and dummies of test and lab hosts).'),
    net_resolv_conf: str('/etc/resolv.conf', 'File setupNetworks writes the nameservers of the default route network to (vdsm writes /etc/resolv.conf).', { ours: true, check: absolutePath }),
    log_level: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], 'info', 'Level of the root logger at start-up (changeable at run time through Host.setLogLevel).', { ours: true }),
  },
  rpc: {
    worker_threads: int(8, 'Executor workers that run JSON-RPC requests.', { min: 1 }),
    tasks_per_worker: int(10, 'JSON-RPC requests queued per worker; the queue holds worker_threads x tasks_per_worker.', { min: 1 }),
    worker_timeout: int(60, `Time, in ${SECONDS}, after which a JSON-RPC request worker is considered stuck and replaced.`, { min: 1, compat: 'issue 9 (reliability, src/rpc) is to apply it' }),
  },
  addresses: {
    management_ip: str('::', 'Address the management port binds to; :: falls back to 0.0.0.0 where IPv6 is disabled.'),
    management_port: int(54321, 'TCP port the engine connects to (0 picks a free port, for tests).', { min: 0, max: 65535 }),
    broker_address: str('127.0.0.1', 'Address of the STOMP broker used when [vars] broker_enable is true.', { compat: true }),
    broker_port: int(5445, 'Port of the STOMP broker used when [vars] broker_enable is true.', { min: 1, max: 65535, compat: true }),
    request_queues: list(['jms.topic.vdsm_requests', 'jms.topic.vdsm_irs_requests'], 'STOMP destinations requests arrive on.'),
    event_queue: str('jms.queue.events', 'STOMP destination events are sent to.'),
    max_frame_size: int(16 * 1024 * 1024, 'Largest STOMP frame body, in bytes, accepted from a peer (vdsm has no limit).', { ours: true, min: 1024 }),
    max_connections: int(0, 'Connections (TLS handshakes included) the management port holds at most; 0 derives it from the descriptor limit (RLIMIT_NOFILE minus 256). Past it the oldest connection still in detection, or else the one idle the longest, makes room; a reserve of slots is kept for detection, so /health and a new engine connection always get in.', { ours: true, min: 0 }),
    max_buffered_bytes: int(256 * 1024 * 1024, 'Memory budget, in bytes, for partial incoming frames and unsent replies across all connections; when it is reached the connection holding the most is dropped with an ERROR frame.', { ours: true, min: 1024 * 1024 }),
    frame_timeout: int(30, `Time, in ${SECONDS}, a STOMP frame may take from its first byte to its end (a client trickling bytes is dropped); a new connection must complete its first frame within it too.`, { ours: true, min: 1 }),
  },
  sampling: {
    enable: bool(true, 'Run the periodic sampling operations.'),
    periodic_workers: int(4, 'Executor workers for periodic operations.', { min: 1 }),
    periodic_task_per_worker: int(100, 'Periodic tasks queued per worker; the queue holds periodic_workers x periodic_task_per_worker.', { min: 1 }),
    max_workers: int(30, 'Bound on live plus discarded-but-still-blocked workers of the periodic executor.', { min: 1 }),
    external_vm_lookup_interval: int(60, `Period, in ${SECONDS}, of looking for VMs libvirt runs that the agent does not know.`, { min: 1, compat: 'no issue owns it yet (external VMs are not looked for)' }),
    tpm_data_update_interval: int(60, `Period, in ${SECONDS}, of saving guests' TPM data.`, { min: 1, compat: true }),
    nvram_data_update_interval: int(60, `Period, in ${SECONDS}, of saving guests' NVRAM data.`, { min: 1, compat: true }),
  },
  guest_agent: {
    enable_qga_poller: bool(true, 'Poll QEMU guest agents for guest information.'),
    periodic_workers: int(4, 'Executor workers for guest agent polling.', { min: 1 }),
    periodic_task_per_worker: int(100, 'Guest agent tasks queued per worker.', { min: 1 }),
    max_workers: int(30, 'Bound on live plus discarded-but-still-blocked guest agent workers.', { min: 1 }),
    qga_command_timeout: int(1, `Time limit, in ${SECONDS}, of one guest agent command.`, { min: 1 }),
    qga_task_timeout: int(30, `Time limit, in ${SECONDS}, of one guest agent polling task (a failing agent's probe, or up to eight VMs whose agents answer) before its worker is discarded and each of its VMs counts as failed.`, { min: 1 }),
    qga_polling_period: int(5, `Period, in ${SECONDS}, of the guest agent poller's main loop.`, { min: 1 }),
    qga_initial_info_interval: int(120, `Time, in ${SECONDS}, after a VM starts during which the guest agent's capabilities and network addresses are asked on every poll until known.`, { min: 0 }),
    qga_info_period: int(300, `Period, in ${SECONDS}, of the guest agent capability check (guest-info: version and enabled commands).`, { min: 1 }),
    qga_sysinfo_period: int(120, `Period, in ${SECONDS}, of fetching the guest OS, host name, time zone, network interfaces and PCI drivers.`, { min: 1 }),
    qga_active_users_period: int(10, `Period, in ${SECONDS}, of fetching the logged-in users.`, { min: 1 }),
    qga_disk_info_period: int(300, `Period, in ${SECONDS}, of fetching guest file systems and the disk mapping.`, { min: 1 }),
    qga_cpu_info_period: int(60, `Period, in ${SECONDS}, of fetching guest CPU information.`, { min: 1 }),
    qga_probe_budget: int(4, 'Tasks per poll the poller may spend on guest agents that stopped answering (each may cost a full qga_command_timeout), whatever their number; agents that answer are never limited.', { ours: true, min: 1 }),
    qga_failure_backoff: int(60, `Time, in ${SECONDS}, a guest agent that did not answer is left alone before it is asked again (vdsm's fixed 60 s); it doubles with each further failure, up to 5 times this.`, { ours: true, min: 1 }),
    guest_info_max_age: int(120, `Time, in ${SECONDS}, after a guest agent's last answer that its data is still reported and the oVirt agent counts as responsive (vdsm's fixed 120 s).`, { ours: true, min: 1 }),
  },
  metrics: {
    enabled: bool(true, 'Send metrics to the collector every host_sample_stats_interval: the agent\'s own figures (hosts.vdsm.*: CPU, memory, threads, event loop, executors, libvirt) and whatever parts publish (hosts.storage.<sdUUID>.*). /metrics on the management port serves every figure regardless.'),
    collector_address: str('localhost', 'Host name or address of the metrics collector; vdsm-node also accepts host:port, [IPv6]:port and, for hawkular, an http(s):// URL (default ports: statsd 8125, hawkular 8080).'),
    collector_type: oneOf(['statsd', 'hawkular'], 'statsd', 'Collector protocol: statsd (UDP gauges through statsd-client) or hawkular (Hawkular Metrics REST API, tenant oVirt).'),
    queue_size: int(100, 'Reports buffered for the hawkular reporter while the collector is slow or down; the oldest are dropped (and counted) when it is full.', { min: 1 }),
    host_vm_metrics: bool(false, 'Also send the host and VM metrics vdsm removed in 2017-2018 (hosts.cpu.*, hosts.memory.*, hosts.swap.*, hosts.vms.*, hosts.nic.<name>.*, vms.<name>.cpu|balloon|mem|disk|nic.*), taken from the samples the agent already has.', { ours: true }),
  },
  health: {
    monitor_enable: bool(true, 'Run the health monitor: every check_interval one log line with the agent\'s CPU, memory, threads, descriptors, GC and the event loops of the main thread and every executor worker, warnings past thresholds, and those figures as metrics. systemd\'s watchdog (WatchdogSec= in the unit) is served either way.'),
    check_interval: int(300, `Period, in ${SECONDS}, of the health monitor.`, { min: 1 }),
  },
  devel: {
    cpu_profile_enable: bool(false, 'Profile the CPU of the main thread and every executor worker from start to orderly stop (run-time profiles: vdsm-tool profile, or SIGUSR2).'),
    cpu_profile_filename: str('/run/vdsm/vdsmd.prof', 'File the start-to-stop CPU profile is written to, as gzipped pprof (all threads, labelled by thread); each thread\'s V8 .cpuprofile goes beside it. Run-time profiles go to the same directory.', { check: absolutePath }),
    cpu_profile_format: oneOf(['pstat', 'callgrind', 'ystat', 'cpuprofile'], 'pstat', 'CPU profile format of vdsm\'s Python profilers.', { compat: 'vdsm-node always writes pprof (all threads) plus one V8 .cpuprofile per thread; vdsm\'s Python formats have no Node equivalent' }),
    cpu_profile_builtins: bool(false, 'Keep Node\'s own frames (node:* modules) in the pprof stacks; false folds them into their callers, as vdsm leaves out C builtins.'),
    cpu_profile_clock: oneOf(['cpu', 'wall'], 'cpu', 'cpu leaves out of the pprof profile the samples V8 took while a thread was idle; wall keeps them.'),
    memory_profile_enable: bool(false, 'Serve the profiling endpoint on 127.0.0.1:memory_profile_port (pprof CPU and heap profiles of every thread, heap snapshots); vdsm served a memory browser on every address.'),
    memory_profile_port: int(9090, 'Port of the loopback profiling endpoint (0 picks a free port, for tests).', { min: 0, max: 65535 }),
    manhole_enable: bool(false, 'Open a debugging shell on a Unix socket in the run directory.', { compat: true }),
    coverage_enable: bool(false, 'Record code coverage.', { compat: true }),
    api_strict_mode: bool(false, 'Reject API requests whose parameters depart from the schema in any way (-32602) instead of converting what vdsm accepts and logging it once per method and parameter.'),
    xml_minimal_changes: bool(true, 'Change domain XML as little as possible.', { compat: true }),
    embedded: bool(false, 'Run as an embedded development agent (test doubles where real host services are missing).', { ours: true }),
  },
  irs: {
    irs_enable: bool(true, 'Run the storage subsystem.'),
    repository: str('/rhev/data-center', 'Root of the storage repository (data center mount points and links); supervdsm mounts only below its mnt/ and checks access only below it.', { check: absolutePath }),
    hsm_tasks: str('%(repository)s/hsm-tasks', 'Kept by vdsm as a storage repository cleanup exception; no task is persisted here (SPM tasks persist on the master domain, in master/tasks).', { compat: true }),
    thread_pool_size: int(10, 'Threads of the HSM pool running storage task jobs (volume creation, copy, deletion).', { min: 1 }),
    max_tasks: int(500, 'Storage tasks queued or running before new ones are refused (error 405).', { min: 1 }),
    vol_size_sample_interval: int(60, `Period, in ${SECONDS}, of sampling the sizes of VM disks (truesize, apparentsize in VM stats).`, { min: 1 }),
    task_resource_default_timeout: int(120000, 'Time, in milliseconds, a storage task waits for a resource lock.', { min: 0, compat: true }),
    process_pool_timeout: int(60, `Time limit, in ${SECONDS}, of one storage file-system call (a storage executor thread, which is discarded past it; supervdsm's validateAccess child).`, { min: 1 }),
    sd_health_check_delay: int(10, `Period, in ${SECONDS}, of storage domain health checks; a check still blocked when the next is due makes the domain invalid.`, { min: 1 }),
    nfs_mount_options: str('soft,nosharecache', 'Mount options for NFS storage connections (mounted by supervdsm), after the connection\'s own mnt_options and before timeo / retrans.'),
    volume_utilization_percent: int(20, 'Free space, in percent of a chunk, below which a thin volume is extended.', { min: 0, max: 100, compat: true }),
    volume_utilization_chunk_mb: int(2560, 'Size, in MiB, by which a thin volume is extended.', { min: 1, compat: true }),
    progress_interval: int(30, `Period, in ${SECONDS}, of progress log lines of long storage operations.`, { min: 1 }),
    qcow2_compat: oneOf(['0.10', '1.1'], '0.10', 'qcow2 compatibility level of new volumes. Not read: as vdsm does, new qcow2 volumes take compat 1.1 on domain version 4 and later, 0.10 before.', { compat: true }),
  },
  mom: {
    conf: str('/etc/vdsm/mom.conf', 'Configuration file of the MOM policy daemon.', { compat: true }),
    socket_path: str('/run/vdsm/mom-vdsm.sock', 'Unix socket of the MOM policy daemon.', { compat: 'no issue owns it yet (MOM is not connected)' }),
    tuning_policy: str('01-parameters', 'Name of the MOM policy holding tuning parameters.', { compat: true }),
  },
  jobs: {
    autodelete_delay: int(3600, `Time, in ${SECONDS}, after which finished virt jobs (VM.snapshot's) are forgotten by Host.getJobs; negative keeps them (the 100 most recent).`),
  },
  sanlock: {
    io_timeout: int(10, `sanlock I/O timeout, in ${SECONDS}.`, { min: 1, compat: true }),
  },
  spm: {
    watchdog_enable: bool(true, 'Watch the storage pool manager role.', { compat: true }),
    watchdog_interval: int(20, `Period, in ${SECONDS}, of the SPM watchdog.`, { min: 1, compat: true }),
  },
  mailbox: {
    events_enable: bool(true, 'Use mailbox events for storage requests.', { compat: true }),
    events_interval: float(0.5, `Period, in ${SECONDS}, of mailbox event checks.`, { min: 0, compat: true }),
  },
  libvirt: {
    uri: str('qemu:///system', 'libvirt connection URI (test:///default or test:///<file>.xml runs on libvirt\'s test driver; "embedded" generates a test-driver node XML with a few VMs under state_dir, for development).', { ours: true }),
    sasl_user: str('vdsm@ovirt', 'SASL user name for the libvirt connection.', { ours: true }),
    password_file: str('/etc/pki/vdsm/keys/libvirt_password', 'File whose first line is the SASL password.', { ours: true, check: absolutePath }),
    migration_uri: str('qemu+{transport}://{host}/system', 'The destination libvirtd a migration connects to (peer to peer): {host} is the destination agent\'s host, {transport} tls when [vars] ssl is true, else tcp. vdsm hard-codes this value; an unprivileged libvirtd needs /session.', { ours: true }),
    keepalive_interval: int(5, `libvirt keepalive interval, in ${SECONDS}; 0 or less disables keepalive.`, { ours: true }),
    keepalive_count: int(5, 'Unanswered keepalive messages after which the libvirt connection is considered dead.', { ours: true, min: 0 }),
    reconnect_max_delay: float(30, `Upper bound, in ${SECONDS}, of the backoff between libvirt reconnect attempts.`, { ours: true, min: 0.1 }),
  },
  supervdsm: {
    enable: bool(true, 'vdsmd asks supervdsmd, the privileged helper on <run_dir>/svdsm.sock, for everything that needs root (DMI, KSM, hugepages, channel sockets, udev rules, mounts, SASL passwords, host networking); false: those requests fail at once with an error saying the helper is disabled, except host networking, which vdsmd then applies itself and for which it must run as root (the dev and embedded profiles).', { ours: true }),
    user: str('vdsm', 'The account vdsmd runs as: the only peer besides root supervdsmd accepts, and the owner of its socket.', { ours: true }),
    group: str('kvm', 'Group of the helper socket (mode 0660).', { ours: true }),
    call_timeout: float(60, `Default deadline, in ${SECONDS}, of one call to the helper.`, { ours: true, min: 0.001 }),
    max_frame_size: int(1024 * 1024, 'Largest message, in bytes, either side of the helper socket accepts.', { ours: true, min: 4096, max: 64 * 1024 * 1024 }),
    max_calls: int(128, 'Calls the helper runs at once (from all connections); beyond it calls fail with error 1100.', { ours: true, min: 1 }),
    workers: int(2, 'Worker threads of the helper for filesystem and sysfs writes.', { ours: true, min: 1 }),
    channel_dirs: list(['/var/lib/libvirt/qemu/channels', '/var/run/ovirt-vmconsole-console'], 'Directories whose guest channel sockets prepareVmChannel may hand to vdsm.', { ours: true }),
    udev_rules_dir: str('/etc/udev/rules.d', 'Where the helper writes its 99-vdsm-*.rules files.', { ours: true }),
    qemu_user: str('qemu', 'User QEMU runs as: udev rules give it passed-through host devices (IOMMU groups, USB, the host RNG).', { ours: true }),
    qemu_group: str('qemu', 'Group udev rules give managed volumes (owned by [supervdsm] user) and passed-through host devices.', { ours: true }),
    systemctl_units: list(['ksm.service', 'ksmtuned.service', 'libvirtd.service', 'libvirt-guests.service', 'mom-vdsm.service', 'ovirt-imageio.service'], 'The only units the helper runs systemctl on.', { ours: true }),
    mount_types: list(['nfs', 'nfs4', 'glusterfs', 'cephfs', 'xfs', 'ext4', 'ext3'], 'File system types the helper mounts (below [irs] repository/mnt, always nosuid,nodev).', { ours: true }),
    access_users: list(['qemu', 'sanlock'], 'Users, besides [supervdsm] user, validateAccess may check a path as.', { ours: true }),
    sasl_libvirt_db: str('/etc/libvirt/passwd.db', "libvirt's SASL database (saslpasswd2 -a libvirt).", { ours: true }),
    sasl_vnc_db: str('/etc/sasl2/vnc_passwd.db', "QEMU's SASL database for VNC passwords (saslpasswd2 -a qemu).", { ours: true }),
  },
  performance: {
    use_dynamic_hugepages: bool(false, 'Allocate the hugepages a VM\'s domain XML asks for when it starts (through supervdsm) and release them when it is destroyed; preallocated free pages are used first.'),
    use_preallocated_hugepages: bool(true, 'With use_dynamic_hugepages, use free preallocated hugepages (minus the reserved ones) before allocating; false allocates every page a VM needs.'),
    reserved_hugepage_count: int(0, 'Free hugepages dynamic allocation never counts on (left for other users).', { min: 0 }),
    reserved_hugepage_size: str('none', 'Size, in KiB, of the reserved hugepages; none is the system default size.'),
  },
} as const satisfies Record<string, Record<string, KeySpec>>;

export type Schema = typeof schema;
export type SectionName = keyof Schema;

/** Sections vdsm knows but vdsm-node has no keys for yet: named in warnings as such, not as typos. */
export const VDSM_ONLY_SECTIONS: readonly string[] = ['iscsi', 'thinp', 'multipath', 'lvm', 'gluster', 'v2v'];

/** What each section is about (docs and the sample file). */
export const SECTION_DESCRIPTIONS: Readonly<Record<SectionName, string>> = {
  vars: 'General daemon settings.',
  rpc: 'The executor that runs JSON-RPC requests.',
  addresses: 'Where the agent listens and which STOMP destinations it uses.',
  sampling: 'Periodic operations and their executor.',
  guest_agent: 'QEMU guest agent polling and its executor.',
  metrics: 'Metrics reporting.',
  health: 'The health monitor.',
  devel: 'Development and profiling switches.',
  irs: 'Storage.',
  mom: 'The MOM memory overcommit manager.',
  jobs: 'Host jobs.',
  sanlock: 'sanlock lease manager.',
  spm: 'Storage pool manager.',
  mailbox: 'Storage mailbox.',
  libvirt: 'The libvirt connection (a vdsm-node section; vdsm hard-codes these).',
  supervdsm: 'supervdsmd, the privileged helper, and vdsmd\'s client of it (a vdsm-node section; vdsm hard-codes these).',
  performance: 'Performance tuning.',
};

/** The effective configuration: `cfg.vars.ssl`, `cfg.addresses.management_port`. Deeply read-only. */
export type VdsmConfig = {
  readonly [S in SectionName]: { readonly [K in keyof Schema[S]]: ValueOf<Schema[S][K]> };
};

/** Some keys of some sections, with typed values: the shape of a profile. */
export type PartialConfig = {
  readonly [S in SectionName]?: { readonly [K in keyof Schema[S]]?: ValueOf<Schema[S][K]> };
};

/** The key spec of section.key, or undefined when the schema has no such key. */
export function keySpec(section: string, key: string): KeySpec | undefined {
  if (!Object.hasOwn(schema, section)) return undefined;
  const keys = schema[section as SectionName] as Record<string, KeySpec>;
  return Object.hasOwn(keys, key) ? keys[key] : undefined;
}

/** Every section.key of the schema, in schema order. */
export function* schemaEntries(): Generator<{ section: SectionName; key: string; spec: KeySpec }> {
  for (const section of Object.keys(schema) as SectionName[]) {
    for (const [key, spec] of Object.entries(schema[section] as Record<string, KeySpec>)) yield { section, key, spec };
  }
}
