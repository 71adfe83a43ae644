/**
 * A control topic for pushing from outside the process: any MQTT client may publish
 * `{"clientId","file","target","overwrite"?,"jobId"?,"taskId"?,"scriptId"?,"lingerMs"?,"faults"?}` to
 * `$ftbroker/push`; the broker runs `pushFile` and publishes the store's answer (and later the end of
 * the send) on `$ftbroker/push/result`. This is what an `ftbroker push` command line would publish.
 * Development broker only: whoever can connect can trigger pushes from `<dataDir>/store/files/`.
 */
import type { PublishInterceptor } from '../types';
import { pushFile, type PushFileOptions } from './push-file';
import type { StoreServerContext } from './types';

export const pushControlTopic = '$ftbroker/push';
export const pushResultTopic = '$ftbroker/push/result';

export function createPushControl(context: StoreServerContext, defaults: Partial<PushFileOptions> = {}): PublishInterceptor {
  const publish = (body: Record<string, unknown>): void => context.core.publish({ topic: pushResultTopic, payload: Buffer.from(JSON.stringify(body), 'utf8'), qos: 1 });

  const run = async (o: PushFileOptions): Promise<void> => {
    const started = await pushFile(context, { ...defaults, ...o });
    publish({
      ok: started.accepted,
      stage: 'answered',
      clientId: o.clientId,
      requestId: started.requestId,
      topic: started.topic,
      ack: started.response.ackText,
      reason: started.response.fields.reason,
    });
    if (!started.sending) return;
    await started.sending.then(
      (r) => publish({ ok: true, stage: 'sent', clientId: o.clientId, requestId: started.requestId, blocks: r.blocks, resent: r.blocksResent }),
      (err: unknown) => publish({ ok: false, stage: 'sent', clientId: o.clientId, requestId: started.requestId, error: err instanceof Error ? err.message : String(err) }),
    );
  };

  return {
    name: 'store-push-control',
    onPublish(msg) {
      if (msg.topic !== pushControlTopic) return null;
      const command = parseCommand(msg.payload);
      if (typeof command === 'string') publish({ ok: false, error: command });
      else run(command).catch((err: unknown) => publish({ ok: false, clientId: command.clientId, error: err instanceof Error ? err.message : String(err) }));
      return { kind: 'ack', reasonCode: 0 };
    },
  };
}

function parseCommand(raw: Buffer): PushFileOptions | string {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch {
    return 'the push command is not JSON';
  }
  if (typeof v !== 'object' || v === null) return 'the push command is not a JSON object';
  const c = v as Record<string, unknown>;
  for (const key of ['clientId', 'file', 'target'] as const) {
    if (typeof c[key] !== 'string' || c[key] === '') return `the push command needs "${key}" (a string)`;
  }
  const id = (x: unknown): string | number | undefined => (typeof x === 'string' || typeof x === 'number' ? x : undefined);
  const jobId = id(c.jobId);
  const taskId = id(c.taskId);
  const scriptId = id(c.scriptId);
  return {
    clientId: c.clientId as string,
    file: c.file as string,
    target: c.target as string,
    ...(typeof c.overwrite === 'boolean' ? { overwrite: c.overwrite } : {}),
    ...(jobId !== undefined ? { jobId } : {}),
    ...(taskId !== undefined ? { taskId } : {}),
    ...(scriptId !== undefined ? { scriptId } : {}),
    ...(typeof c.lingerMs === 'number' && Number.isSafeInteger(c.lingerMs) && c.lingerMs >= 0 ? { lingerMs: c.lingerMs } : {}),
    ...(typeof c.faults === 'object' && c.faults !== null ? { faults: c.faults } : {}),
  };
}
