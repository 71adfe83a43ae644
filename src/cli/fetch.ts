/**
 * `ftagent fetch REMOTE_PATH --to LOCAL_PATH`: asks the store server for a file (`download`, docs/store-flows.md §1)
 * and receives it with nftp on the topic the answer names. The local path is the operator's choice,
 * but it gets the same checks as a pushed target: no symlink, device or directory is written through,
 * an existing file is replaced only with --overwrite (atomically), and nothing reaches it unverified.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { rangeProblem } from '../config/limits';
import { FtError } from '../errors';
import { createLogger, type LogLevel } from '../log';
import { systemClock } from '../time/clock';
import { Connection, type ConnectionOptions } from '../mqtt/connection';
import { defaultMaxPacketSize, nftpPacketOverhead } from '../protocol/packet-limits';
import type { SniffResponse } from '../protocol/file-sniffer';
import { prepareRoots } from '../transfer/store/confine';
import type { NftpReceiveResult } from '../transfer/nftp/nftp-receiver';
import { ReceiveLimits } from '../transfer/store/receive-limits';
import { StoreChannel } from '../mqtt/store-channel';
import { checkNftpTopic, prepareTarget, receiveFile, type NftpReceiveSettings } from '../transfer/store/store-receive';
import { reportFailure, type CliCommand, type CliIo } from './command';
import { exitStatus } from './exit-codes';
import { formatBytes } from './progress';
import { connectionFlagSpec, connectionFromFlags, logLevelFromFlag, outputFlagSpec } from './connection-flags';
import { fetchUsage as usage } from './usage';
import { parseCommandArgs, usageErrorFor } from './argv';

const argSpec = {
  to: { type: 'string' },
  overwrite: { type: 'boolean' },
  ...connectionFlagSpec,
  'block-size': { type: 'string' },
  'nftp-width': { type: 'string' },
  timeout: { type: 'string' },
  'hello-wait': { type: 'string' },
  ...outputFlagSpec,
} as const;

export interface FetchPlan {
  remote: string;
  local: string;
  /** --to ended with a separator. */
  localIsFolder: boolean;
  overwrite: boolean;
  connection: ConnectionOptions;
  nftp: NftpReceiveSettings;
  requestTimeoutMs: number;
  json: boolean;
  quiet: boolean;
  logLevel: LogLevel;
}

const usageError = usageErrorFor('fetch');

function integer(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  const problem = rangeProblem(n, { min, max });
  if (problem) throw usageError(`--${flag} ${problem}, got "${value}"`);
  return n;
}

export function planFetch(argv: string[], io: CliIo): FetchPlan {
  const { values: v, positionals } = parseCommandArgs('fetch', argv, argSpec);
  if (positionals.length !== 1 || positionals[0] === undefined || positionals[0] === '') throw usageError('give exactly one REMOTE_PATH');
  if (v.to === undefined || v.to === '') throw usageError('--to LOCAL_PATH is required');
  const logLevel = logLevelFromFlag(v['log-level'], usageError);
  const width = v['nftp-width'] ?? 'u16';
  if (width !== 'u16' && width !== 'u32') throw usageError(`--nftp-width must be u16 or u32, got "${width}"`);
  const blockSize = integer('block-size', v['block-size'], 1, width === 'u16' ? 0xffff : 64 * 1024 * 1024);
  const timeout = integer('timeout', v.timeout, 1, 3600) ?? 10;
  const helloWait = integer('hello-wait', v['hello-wait'], 1, 3600) ?? 30;
  return {
    remote: positionals[0],
    local: path.resolve(io.cwd, v.to),
    localIsFolder: /[/\\]$/.test(v.to),
    overwrite: v.overwrite === true,
    // An nftp block must fit in one packet we accept.
    connection: { ...connectionFromFlags(v, io, usageError), maximumPacketSize: Math.max(defaultMaxPacketSize, (blockSize ?? 32768) + nftpPacketOverhead) },
    nftp: { width, helloWaitMs: helloWait * 1000, ...(blockSize !== undefined ? { blockSize } : {}) },
    requestTimeoutMs: timeout * 1000,
    json: v.json === true,
    quiet: v.quiet === true,
    logLevel,
  };
}

/** An existing folder (or a --to ending in a separator) means "keep the remote name inside it". */
function localTarget(plan: FetchPlan): string {
  const remoteName = path.basename(plan.remote.replace(/\\/g, '/'));
  if (plan.localIsFolder) return path.join(plan.local, remoteName);
  try {
    if (statSync(plan.local).isDirectory()) return path.join(plan.local, remoteName);
  } catch {
    // Not there yet: it is the file name.
  }
  return plan.local;
}

/** The server's answer to `download` as an error with a code a script can switch on, or the topic. */
export function downloadTopic(remote: string, r: SniffResponse): string {
  const why = typeof r.fields.reason === 'string' ? `: ${r.fields.reason}` : '';
  if (r.ack === 'ok') {
    if (r.topic === undefined || r.topic === '') throw new FtError('REMOTE_ERROR', `the store server said ok to downloading ${remote} but named no topic to receive on`);
    checkNftpTopic(r.topic, 'download');
    return r.topic;
  }
  if (r.ack === 'NOT_EXIST') throw new FtError('NOT_FOUND', `the store server has no ${remote} (NOT_EXIST)${why}`, { details: { remote } });
  if (r.ack === 'NOT_ALLOW') throw new FtError('NOT_ALLOWED', `the store server does not allow downloading ${remote} (NOT_ALLOW)${why}`, { details: { remote } });
  if (r.ack === 'WAIT') {
    throw new FtError('REMOTE_ERROR', `the store server is busy (WAIT${r.timeoutMs !== undefined ? `, try again in ${r.timeoutMs} ms` : ''})`, {
      transient: true,
      details: { remote, timeoutMs: r.timeoutMs },
    });
  }
  throw new FtError('REMOTE_ERROR', `the store server could not serve ${remote} (${r.ackText ?? 'no ack'})${why}`, { details: { remote, ack: r.ackText } });
}

async function run(argv: string[], io: CliIo): Promise<number> {
  const plan = planFetch(argv, io);
  const file = localTarget(plan);
  const roots = await prepareRoots([path.dirname(file)], { create: false });
  if (roots.roots.length === 0) throw new FtError('NOT_FOUND', `cannot write ${file}: its folder ${path.dirname(file)} does not exist (${roots.problems.join('; ')})`);
  // Fail before asking the server for anything.
  const target = await prepareTarget(roots.roots, file, plan.overwrite);

  const logger = createLogger({ level: plan.logLevel, stream: io.stderr });
  const interrupt = new AbortController();
  const onSignal = (): void => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const connection = new Connection(plan.connection, { clock: systemClock, logger });
  const channel = new StoreChannel(connection, { logger, requestTimeoutMs: plan.requestTimeoutMs });
  const started = Date.now();
  try {
    await Promise.race([
      connection.start(),
      new Promise<never>((_, reject) => interrupt.signal.addEventListener('abort', () => reject(new FtError('INTERRUPTED', 'interrupted while connecting')), { once: true })),
    ]);
    // A broker that never acknowledges the subscription must not hold fetch until its keepalive.
    const subscribing = new AbortController();
    const onInterrupt = (): void => subscribing.abort();
    interrupt.signal.addEventListener('abort', onInterrupt, { once: true });
    const cancelTimer = systemClock.after(plan.requestTimeoutMs, onInterrupt);
    const ready = await channel.whenReady(subscribing.signal);
    cancelTimer();
    interrupt.signal.removeEventListener('abort', onInterrupt);
    if (!ready) {
      if (interrupt.signal.aborted) throw new FtError('INTERRUPTED', 'interrupted while subscribing');
      throw new FtError('TIMEOUT', `the broker did not acknowledge the subscription to the store topics within ${plan.requestTimeoutMs / 1000} s (--timeout)`, { transient: true });
    }
    const response = await channel.request('download', { path: plan.remote });
    const topic = await channel.openNftpTopic(downloadTopic(plan.remote, response));
    let result: NftpReceiveResult;
    try {
      result = await receiveFile({
        topic,
        target,
        requested: file,
        overwrite: plan.overwrite,
        roots: roots.roots,
        logger,
        nftp: plan.nftp,
        signal: interrupt.signal,
        // One receive, whatever its size, but never one the disk has no room for.
        slot: new ReceiveLimits({ maxConcurrent: 1, maxReservedBytes: Number.MAX_SAFE_INTEGER }).enter(file),
      });
    } finally {
      await topic.close().catch(() => undefined);
    }
    writeResult(io, plan, file, result, (Date.now() - started) / 1000);
    io.settle?.(exitStatus.ok);
    return exitStatus.ok;
  } catch (err) {
    reportFailure(io, plan.json, err);
    throw err;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    channel.dispose();
    await connection.close();
  }
}

function writeResult(io: CliIo, plan: FetchPlan, file: string, r: NftpReceiveResult, seconds: number): void {
  if (plan.json) {
    io.stdout.write(
      `${JSON.stringify({ ok: true, remote: plan.remote, path: file, size: r.size, crc32c: r.filehash, blocks: r.blocks, resumedBlocks: r.resumedBlocks, givemes: r.givemesSent, seconds: Number(seconds.toFixed(3)) })}\n`,
    );
  } else if (!plan.quiet) {
    const extra = [r.resumedBlocks > 0 ? `${r.resumedBlocks} blocks resumed` : '', r.givemesSent > 0 ? `${r.givemesSent} blocks re-requested` : ''].filter((s) => s !== '');
    io.stdout.write(`fetched ${plan.remote} (${formatBytes(r.size)}) to ${file} in ${seconds.toFixed(1)} s; CRC-32C verified${extra.length > 0 ? `; ${extra.join(', ')}` : ''}\n`);
  }
}

const command: CliCommand = { name: 'fetch', summary: 'download one file from the store server (fetch REMOTE --to LOCAL)', usage, run };
export default command;
