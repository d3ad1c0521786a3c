// Debian's prometheus scrapes vdsmd's /metrics (the management port's HTTP side) and can query the
// host, VM, executor, libvirt and process figures; `promtool check metrics` finds nothing to lint in
// what the agent serves.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AgentProcess } from '../helpers/agent-process.js';
import { freeTcpPort } from '../support/free-port.js';

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const available = existsSync(PROMETHEUS) && existsSync(PROMTOOL);

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

function promtool(args: string[], stdin?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(PROMTOOL, args, { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }));
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

interface Vector { metric: Record<string, string>; value: [number, string] }

void describe('Prometheus scrapes /metrics', () => {
  void it('in CI prometheus and promtool are installed (scripts/setup.sh)', { skip: process.env['CI'] === undefined }, () => {
    assert.ok(available, `${PROMETHEUS} and ${PROMTOOL} must exist in CI`);
  });

  void it('prometheus scrapes the agent and answers queries on host, VM, executor, libvirt and process figures; promtool lints clean', async (t) => {
    if (!available) return t.skip('Debian prometheus is not installed');
    const agent = await AgentProcess.start({ args: ['--set', 'vars.vm_sample_interval=1', '--set', 'vars.host_sample_stats_interval=1', '--set', 'health.check_interval=1'] });
    const dir = await mkdtemp(join(tmpdir(), 'vdsm-prom-'));
    let prom: ChildProcess | undefined;
    try {
      await agent.whenReady();
      const promPort = await freeTcpPort();
      const config = join(dir, 'prometheus.yml');
      await writeFile(config, [
        'global:', '  scrape_interval: 1s', '  scrape_timeout: 1s',
        'scrape_configs:', '  - job_name: vdsm', '    static_configs:', `      - targets: ['127.0.0.1:${agent.port}']`, '',
      ].join('\n'));
      assert.equal((await promtool(['check', 'config', config])).code, 0);
      prom = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
      const query = async (q: string): Promise<Vector[]> => {
        const r = await get(promPort, `/api/v1/query?query=${encodeURIComponent(q)}`).catch(() => ({ status: 0, body: '' }));
        return r.status === 200 ? (JSON.parse(r.body) as { data: { result: Vector[] } }).data.result : [];
      };
      const until = async (q: string, pred: (v: Vector[]) => boolean): Promise<Vector[]> => {
        const deadline = Date.now() + 60_000;
        for (;;) {
          const v = await query(q);
          if (pred(v)) return v;
          if (Date.now() > deadline || prom!.exitCode !== null) throw new Error(`prometheus never answered ${q} as expected; last: ${JSON.stringify(v)}`);
          await new Promise((r) => setTimeout(r, 250));
        }
      };
      await until('up{job="vdsm"}', (v) => v[0]?.value[1] === '1');
      const vms = await until('vdsm_vm_status', (v) => v.length >= 4);
      assert.ok(vms.every((v) => v.metric['vm_id'] !== undefined && v.metric['vm_name']?.startsWith('embedded-vm') === true));
      await until('vdsm_executor_live_workers{executor="periodic"}', (v) => Number(v[0]?.value[1]) >= 1);
      await until('vdsm_libvirt_connected', (v) => v[0]?.value[1] === '1');
      await until('vdsm_host_cpu_idle_ratio', (v) => v.length === 1 && Number(v[0]!.value[1]) <= 1);
      await until('process_resident_memory_bytes', (v) => Number(v[0]?.value[1]) > 10 * 2 ** 20);
      await until('vdsm_event_loop_utilization_ratio{thread="main"}', (v) => v.length === 1);
      await until('sum(vdsm_executor_tasks_total{op="sampling.bulkStats",outcome="ok"})', (v) => Number(v[0]?.value[1]) >= 1);

      const scrape = await get(agent.port, '/metrics');
      assert.equal(scrape.status, 200);
      const lint = await promtool(['check', 'metrics'], scrape.body);
      assert.equal(lint.code, 0, `promtool check metrics:\n${lint.out}`);
      assert.equal(lint.out.trim(), '');
    } finally {
      prom?.kill();
      await agent.stop();
      await agent.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
