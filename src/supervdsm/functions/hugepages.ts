// Hugepage allocation (vdsm's hugepages_alloc) and a variant that allocates only what the free pool
// lacks, read-modify-write under one lock per page size so two VMs starting at once cannot lose an
// update. The pool is /sys/kernel/mm/hugepages/hugepages-<size>kB; the size must be one the kernel has.
import { s } from '../../api/schema.js';
import { defineFunction, invalidArgument, notAllowed, p, type CallContext } from '../registry.js';

export const HUGEPAGES_DIR = '/sys/kernel/mm/hugepages';
const MAX_COUNT = 0x7fff_ffff;

async function poolDir(ctx: CallContext, sizeKiB: number | undefined): Promise<{ dir: string; sizeKiB: number }> {
  const pools = (await ctx.fs.list(HUGEPAGES_DIR, [HUGEPAGES_DIR]))
    .map((n) => /^hugepages-(\d+)kB$/.exec(n)?.[1]).filter((v): v is string => v !== undefined).map(Number).sort((a, b) => a - b);
  let size = sizeKiB;
  if (size === undefined) {
    const meminfo = await ctx.fs.read('/proc/meminfo', ['/proc'], 64 * 1024);
    size = Number(/^Hugepagesize:\s+(\d+) kB$/m.exec(meminfo)?.[1]);
  }
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

export const hugepagesEnsureFree = defineFunction<{ needed: number; sizeKiB?: number; keepFree?: number }, HugepagesResult>({
  name: 'hugepagesEnsureFree',
  summary: 'allocate only the hugepages the free pool lacks for `needed` pages (keeping `keepFree` untouched)',
  params: {
    needed: p.required(s.int(), 'pages a VM is about to use'),
    sizeKiB: sizeParam,
    keepFree: p.optional(s.int(), 'free pages never counted on (vdsm reserved_hugepage_count)'),
  },
  async run({ needed, sizeKiB, keepFree = 0 }, ctx) {
    if (needed < 0 || needed > MAX_COUNT) throw invalidArgument(ctx.method, 'needed', `must be in 0..${MAX_COUNT}`);
    if (keepFree < 0 || keepFree > MAX_COUNT) throw invalidArgument(ctx.method, 'keepFree', `must be in 0..${MAX_COUNT}`);
    const pool = await poolDir(ctx, sizeKiB);
    return ctx.exclusive(`hugepages-${pool.sizeKiB}`, async () => {
      const free = await readCount(ctx, pool.dir, 'free_hugepages');
      const missing = Math.max(0, needed - Math.max(0, free - keepFree));
      const { before, after } = missing > 0 ? await adjust(ctx, pool.dir, missing) : { before: free, after: free };
      const allocated = missing > 0 ? after - before : 0;
      ctx.log.info({ sizeKiB: pool.sizeKiB, needed, free, keepFree, allocated }, 'hugepages ensured');
      return { sizeKiB: pool.sizeKiB, allocated, total: missing > 0 ? after : await readCount(ctx, pool.dir, 'nr_hugepages') };
    });
  },
});
