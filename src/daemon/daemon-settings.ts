/**
 * What the daemon takes from the config file: the connection, the job defaults, the checkpoint
 * throttle, the store flows' nftp settings. Certificate files are read here, once, at start.
 */
import { fileLimits, readBounded } from '../config/bounded-read';
import type { Config } from '../config/load-config';
import { FtError } from '../errors';
import { tlsMaterialProblem } from '../mqtt/connect-errors';
import type { JobUploadDefaults } from '../jobs/upload-job-options';
import type { ConnectionOptions, TlsMaterial } from '../mqtt/connection';
import type { NftpReceiveSettings } from '../transfer/store/store-receive';
import type { StoreUploadNftpOptions } from '../transfer/store/store-upload';

export async function connectionOptionsFrom(config: Config): Promise<ConnectionOptions> {
  const tls: TlsMaterial = {};
  for (const key of ['ca', 'cert', 'key'] as const) {
    const path = config.tls[key];
    if (path === undefined) continue;
    try {
      tls[key] = readBounded(path, { limit: fileLimits.pem, what: `config ${config.source}: "tls.${key}" ${path}`, code: 'CONFIG_INVALID' });
    } catch (err) {
      if (err instanceof FtError) throw err;
      throw new FtError('CONFIG_INVALID', `config ${config.source}: "tls.${key}" names ${path}, which cannot be read (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  if (config.tls.insecure) tls.insecure = true;
  const tlsProblem = tlsMaterialProblem(tls, { ca: '"tls.ca"', cert: '"tls.cert"', key: '"tls.key"' });
  if (tlsProblem) throw new FtError('CONFIG_INVALID', `config ${config.source}: ${tlsProblem}`);
  return {
    brokers: config.brokers,
    clientId: config.clientId,
    protocolVersion: config.mqtt.version === '5' ? 5 : 4,
    keepaliveSeconds: config.mqtt.keepalive,
    maximumPacketSize: config.mqtt.maxPacketSize,
    ...(config.username !== undefined ? { username: config.username } : {}),
    ...(config.password !== undefined ? { password: config.password } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  };
}

export function jobDefaultsFrom(config: Config): JobUploadDefaults {
  return {
    mode: config.mqtt.mode,
    ...(config.upload.chunkSize === undefined ? {} : { chunkSize: config.upload.chunkSize }),
    ...(config.upload.window === undefined ? {} : { window: config.upload.window }),
    memoryBudget: config.upload.memoryBudget,
    segmentChecksums: config.upload.segmentChecksums,
    finTimeoutMs: config.upload.finTimeoutSeconds * 1000,
  };
}

/** Whether the connection must subscribe to $file-response/{clientid}. */
export function needsResponses(config: Config): boolean {
  return config.mqtt.mode === 'async' || config.mqtt.version === '3.1.1';
}

/** nftp as the sender of store jobs' files. */
export function storeNftpSendFrom(config: Pick<Config, 'store'>): StoreUploadNftpOptions {
  const n = config.store.nftp;
  return { blockSize: n.blockSize, width: n.width, window: n.window, intervalMs: n.intervalMs, lingerMs: n.lingerSeconds * 1000 };
}

/** nftp as the receiver of pushed files. */
export function storeNftpReceiveFrom(config: Pick<Config, 'store'>): NftpReceiveSettings {
  const n = config.store.nftp;
  return { blockSize: n.blockSize, width: n.width, stallMs: n.stallMs, maxGivemes: n.maxGivemes, helloWaitMs: n.helloWaitMs, checkpointEvery: n.checkpointEvery };
}
