import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** CPU and memory of other processes, read from Linux /proc. */

const TICKS_PER_SECOND = clockTicks();

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** utime + stime of a process in seconds, or undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at field 3; utime is 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

export function rssMb(pid: number): number | undefined {
  return memoryMb(pid)?.rss;
}

export interface Memory {
  /** VmRSS: resident set, MB. */
  rss: number;
  /** RssAnon: the anonymous part of it (V8 heap, buffers, malloc), MB; without the mapped files. */
  anon: number | undefined;
}

/** Resident memory of a process from /proc/PID/status, or undefined when it is gone. */
export function memoryMb(pid: number): Memory | undefined {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) / 1024 : undefined;
  };
  const rss = field('VmRSS');
  return rss === undefined ? undefined : { rss, anon: field('RssAnon') };
}

export interface ProcUsage {
  /** Percent of one core over the window (200 = two cores busy). */
  cpuPct: number;
  rssMaxMb: number;
}

/**
 * Watches a set of processes over a window: CPU from the utime+stime delta, RSS as the maximum
 * of samples taken every 200 ms (summed over the processes watched from the start).
 */
export class ProcWatch {
  private readonly startCpu = new Map<number, number>();
  private readonly startedAt = performance.now();
  private rssMax = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pids: number[]) {
    for (const pid of pids) this.startCpu.set(pid, cpuSeconds(pid) ?? 0);
    this.sampleRss();
    this.timer = setInterval(() => this.sampleRss(), 200);
  }

  private sampleRss(): void {
    const total = this.pids.reduce((sum, pid) => sum + (rssMb(pid) ?? 0), 0);
    this.rssMax = Math.max(this.rssMax, total);
  }

  /**
   * `latePids`: processes that may have started during the window (new database backends);
   * those not watched from the start count with all their CPU.
   */
  stop(latePids: number[] = []): ProcUsage {
    clearInterval(this.timer);
    this.sampleRss();
    const seconds = (performance.now() - this.startedAt) / 1000;
    let cpu = 0;
    for (const pid of new Set([...this.pids, ...latePids])) {
      const now = cpuSeconds(pid);
      if (now !== undefined) cpu += now - (this.startCpu.get(pid) ?? 0);
    }
    return { cpuPct: (cpu / seconds) * 100, rssMaxMb: this.rssMax };
  }
}

/** The load generator's own CPU over a window (this process). */
export class SelfWatch {
  private readonly start = process.cpuUsage();
  private readonly startedAt = performance.now();

  stop(): number {
    const used = process.cpuUsage(this.start);
    const seconds = (performance.now() - this.startedAt) / 1000;
    return ((used.user + used.system) / 1e6 / seconds) * 100;
  }
}
