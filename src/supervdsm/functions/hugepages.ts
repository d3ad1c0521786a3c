// Hugepage allocation (vdsm's hugepages_alloc) and a variant that allocates only what the free pool
// lacks, read-modify-write under one lock per page size so two VMs starting at once cannot lose an
// update. The pool is /sys/kernel/mm/hugepages/hugepages-<size>kB; the size must be one the kernel has.
import { s } from '../../api/schema.js';
import { defineFunction, invalidArgument, notAllowed, p, type CallContext } from '../registry.js';

export const HUGEPAGES_DIR = '/sys/kernel/mm/hugepages';
const MAX_COUNT = 0x7fff_ffff;

/** The system's default hugepage size (KiB), from /proc/meminfo. */
async function defaultSize(ctx: CallContext): Promise<number> {
  const meminfo = await ctx.fs.read('/proc/meminfo', ['/proc'], 64 * 1024);
  return Number(/^Hugepagesize:\s+(\d+) kB$/m.exec(meminfo)?.[1]);
}

async function poolDir(ctx: CallContext, sizeKiB: number | undefined): Promise<{ dir: string; sizeKiB: number }> {
  const pools = (await ctx.fs.list(HUGEPAGES_DIR, [HUGEPAGES_DIR]))
    .map((n) => /^hugepages-(\d+)kB$/.exec(n)?.[1]).filter((v): v is string => v !== undefined).map(Number).sort((a, b) => a - b);
  const size = sizeKiB ?? await defaultSize(ctx);
  if (!pools.includes(size)) throw notAllowed(ctx.method, 'sizeKiB', size, pools);
  return { dir: `${HUGEPAGES_DIR}/hugepages-${size}kB`, sizeKiB: size };
}

async function readCount(ctx: CallContext, dir: string, file: string): Promise<number> {
  return Number((await ctx.fs.read(`${dir}/${file}`, [HUGEPAGES_DIR], 64)).trim());
}

/** Change nr_hugepages by `count` (never below 0); the change the kernel really made. */
async function adjust(ctx: CallContext, dir: string, count: number): Promise<{ before: number; after: number }> {
  const before = await readCount(ctx, dir, 'nr_hugepages');
  const target = Math.max(0, before + count);
  if (target !== before) await ctx.fs.write(`${dir}/nr_hugepages`, [HUGEPAGES_DIR], String(target));
  return { before, after: await readCount(ctx, dir, 'nr_hugepages') };
}

export interface HugepagesResult {
  sizeKiB: number;
  /** Pages added (negative: released) by this call; less than asked when memory was short. */
  allocated: number;
  total: number;
}

const sizeParam = p.optional(s.int(), 'page size in KiB (default: the system default size)');

export const hugepagesAlloc = defineFunction<{ count: number; sizeKiB?: number }, HugepagesResult>({
  name: 'hugepagesAlloc',
  summary: 'add (or, negative, release) hugepages of one size; returns how many the kernel really added',
  vdsmName: 'hugepages_alloc',
  params: { count: p.required(s.int(), 'pages to add; negative releases'), sizeKiB: sizeParam },
  async run({ count, sizeKiB }, ctx) {
    if (Math.abs(count) > MAX_COUNT) throw invalidArgument(ctx.method, 'count', `|count| must be at most ${MAX_COUNT}`);
    const pool = await poolDir(ctx, sizeKiB);
    return ctx.exclusive(`hugepages-${pool.sizeKiB}`, async () => {
      const { before, after } = await adjust(ctx, pool.dir, count);
      ctx.log.info({ sizeKiB: pool.sizeKiB, asked: count, before, after }, 'hugepages adjusted');
      return { sizeKiB: pool.sizeKiB, allocated: after - before, total: after };
    });
  },
});

export interface PrepareResult extends HugepagesResult {
  /** Pages of this size the memory needs. */
  needed: number;
}

export const hugepagesPrepare = defineFunction<{ memoryKiB: number; sizeKiB?: number; usePreallocated?: boolean; keepFree?: number; keepFreeSizeKiB?: number }, PrepareResult>({
  name: 'hugepagesPrepare',
  summary: "make room for a VM's memory in hugepages: allocate what the free pool lacks (or, without usePreallocated, all of it)",
  vdsmName: 'hugepages_alloc (with vdsm\'s calculate_required_allocation)',
  params: {
    memoryKiB: p.required(s.int(), 'memory the VM backs with hugepages, KiB'),
    sizeKiB: sizeParam,
    usePreallocated: p.optional(s.bool(), 'count free preallocated pages first (default true, vdsm use_preallocated_hugepages)'),
    keepFree: p.optional(s.int(), 'free pages never counted on (vdsm reserved_hugepage_count)'),
    keepFreeSizeKiB: p.optional(s.int(), 'size of those pages (vdsm reserved_hugepage_size; default: the system default size)'),
  },
  async run({ memoryKiB, sizeKiB, usePreallocated = true, keepFree = 0, keepFreeSizeKiB }, ctx) {
    if (memoryKiB < 1 || memoryKiB > 2 ** 50) throw invalidArgument(ctx.method, 'memoryKiB', 'must be in 1..2^50');
    if (keepFree < 0 || keepFree > MAX_COUNT) throw invalidArgument(ctx.method, 'keepFree', `must be in 0..${MAX_COUNT}`);
    const pool = await poolDir(ctx, sizeKiB);
    const needed = Math.ceil(memoryKiB / pool.sizeKiB);
    const reserved = keepFree > 0 && pool.sizeKiB === (keepFreeSizeKiB ?? await defaultSize(ctx)) ? keepFree : 0;
    if (needed > MAX_COUNT) throw invalidArgument(ctx.method, 'memoryKiB', 'needs more pages than the kernel can count');
    return ctx.exclusive(`hugepages-${pool.sizeKiB}`, async () => {
      const free = usePreallocated ? await readCount(ctx, pool.dir, 'free_hugepages') : 0;
      const missing = Math.max(0, needed - Math.max(0, free - reserved));
      if (missing === 0) return { sizeKiB: pool.sizeKiB, needed, allocated: 0, total: await readCount(ctx, pool.dir, 'nr_hugepages') };
      const { before, after } = await adjust(ctx, pool.dir, missing);
      ctx.log.info({ sizeKiB: pool.sizeKiB, needed, free, reserved, allocated: after - before }, 'hugepages prepared');
      return { sizeKiB: pool.sizeKiB, needed, allocated: after - before, total: after };
    });
  },
});
