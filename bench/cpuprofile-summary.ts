/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per
 * function, and per package or source area, top first.
 *   npx tsx bench/cpuprofile-summary.ts <file.cpuprofile> [--top 25]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface SelfTimeRow {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}
export interface ProfileSummary {
  totalMs: number;
  /** Sampled time outside idle, program and GC pseudo-frames. */
  busyMs: number;
  gcMs: number;
  topFunctions: SelfTimeRow[];
  byArea: SelfTimeRow[];
}

/** node_modules/<pkg> for dependencies, src/<dir> for this project, node:<x> for Node's own code. */
export function areaOf(url: string): string {
  if (url === '') return '(native/V8)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? url);
  }
  if (url.startsWith('node:')) return url.split('/')[0] ?? url;
  const src = url.indexOf('/src/');
  if (src >= 0) {
    const parts = url.slice(src + 1).split('/');
    return parts.length > 2 ? `${parts[0]}/${parts[1]}` : (parts[0] ?? url);
  }
  return url.replace(/^file:\/\//, '');
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, '');
}

/**
 * `window` (microseconds on the profile's clock, which is the monotonic clock
 * of process.hrtime) keeps only the samples taken inside it: the measured
 * requests, without start-up. A window that misses the profile is ignored.
 */
export function summariseProfile(profile: CpuProfile, top = 25, window?: { startUs: number; endUs: number }): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let windowUs = profile.endTime - profile.startTime;
  if (profile.samples && profile.timeDeltas) {
    const useWindow = window !== undefined && window.startUs < profile.endTime && window.endUs > profile.startTime;
    if (useWindow) windowUs = Math.min(window.endUs, profile.endTime) - Math.max(window.startUs, profile.startTime);
    let at = profile.startTime;
    // Each sample's time is the delta to the next sample.
    profile.samples.forEach((id, i) => {
      at += profile.timeDeltas?.[i] ?? 0;
      if (useWindow && (at < window.startUs || at > window.endUs)) return;
      const delta = profile.timeDeltas?.[i + 1] ?? 0;
      selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, delta));
    });
  } else {
    const total = profile.endTime - profile.startTime;
    const hits = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0) || 1;
    for (const n of profile.nodes) selfUs.set(n.id, ((n.hitCount ?? 0) / hits) * total);
  }
  const fnTotals = new Map<string, { name: string; where: string; us: number }>();
  const areaTotals = new Map<string, number>();
  let busyUs = 0;
  let gcUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)' || functionName === '(program)' || functionName === '(root)') continue;
    if (functionName === '(garbage collector)') {
      gcUs += us;
      busyUs += us;
      continue;
    }
    busyUs += us;
    const name = functionName || '(anonymous)';
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '(native)';
    const key = `${name}@${where}`;
    const entry = fnTotals.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    fnTotals.set(key, entry);
    const area = areaOf(url);
    areaTotals.set(area, (areaTotals.get(area) ?? 0) + us);
  }
  areaTotals.set('(garbage collector)', gcUs);
  const toRow = (name: string, where: string, us: number): SelfTimeRow => ({
    name,
    where,
    selfMs: us / 1000,
    share: busyUs > 0 ? us / busyUs : 0,
  });
  return {
    totalMs: windowUs / 1000,
    busyMs: busyUs / 1000,
    gcMs: gcUs / 1000,
    topFunctions: [...fnTotals.values()].sort((a, b) => b.us - a.us).slice(0, top).map((f) => toRow(f.name, f.where, f.us)),
    byArea: [...areaTotals].sort((a, b) => b[1] - a[1]).slice(0, top).map(([area, us]) => toRow(area, '', us)),
  };
}

export function formatProfileSummary(summary: ProfileSummary, top = 15): string {
  const lines = [
    `profile: ${summary.totalMs.toFixed(0)} ms wall, ${summary.busyMs.toFixed(0)} ms busy (GC ${summary.gcMs.toFixed(0)} ms)`,
    'self time by area:',
    ...summary.byArea.slice(0, top).map((r) => `  ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.selfMs.toFixed(0).padStart(7)} ms  ${r.name}`),
    'top functions by self time:',
    ...summary.topFunctions.slice(0, top).map((r) => `  ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.selfMs.toFixed(0).padStart(7)} ms  ${r.name}  ${r.where}`),
  ];
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: tsx bench/cpuprofile-summary.ts <file.cpuprofile> [--top N]');
    process.exit(2);
  }
  const topIndex = process.argv.indexOf('--top');
  const top = topIndex > 0 ? Number(process.argv[topIndex + 1]) : 25;
  const summary = summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top);
  console.log(formatProfileSummary(summary, top));
}
