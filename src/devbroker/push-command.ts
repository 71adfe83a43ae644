/**
 * `ftbroker push`: asks a running development broker to push one file from its `<data>/store/files/`
 * to a connected store, through the broker's `$ftbroker/push` control topic, and reports how it went.
 * A separate process from the broker on purpose: a test script or a person can trigger pushes into a
 * broker that is already running with agents attached.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { integer, orUsageError, required, UsageError, type UsageErrorResult } from './flag-values';
import { pushControlTopic, pushResultTopic } from './store-server/push-control';

const pushUsage = `Usage: ftbroker push --broker mqtt://HOST:PORT --client ID --file NAME --target PATH [options]

Asks a running ftbroker to push a file from its <data>/store/files/ to the store connected as ID.
Prints every result the broker reports for that push as a JSON line on stdout.
Exit status: 0 once the file was sent, 1 if the store refused it, the send failed or the timeout
passed, 2 on bad flags.

  --broker URL             the broker: mqtt://HOST:PORT, or mqtt://NAME:PASSWORD@HOST:PORT
  --client ID              MQTT client id of the store (agent) to push to
  --file NAME              file to send, relative to <data>/store/files/
  --target PATH            target_path sent to the store; where the file lands is the store's decision
  --overwrite              allow the store to replace an existing file
  --timeout SECONDS        give up after this long, in whole seconds (default 120)
  --linger SECONDS         how long the sender keeps answering resend requests before it reports
                           "sent" (default: the broker's, 30)
  --help                   print this help
`;

export interface PushCliOptions {
  brokerUrl: string;
  clientId: string;
  file: string;
  target: string;
  /** Only sent when true; otherwise the store applies its own default. */
  overwrite: boolean;
  timeoutMs: number;
  /** The sender's wait for late resend requests; the broker's default when absent. */
  lingerMs?: number;
}

export type PushCliCommand = { kind: 'help' } | { kind: 'run'; options: PushCliOptions } | UsageErrorResult;

export interface PushIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const defaultTimeoutSeconds = 120;
// setTimeout holds at most 2^31 - 1 ms; a longer timeout would fire at once.
const maxTimeoutSeconds = Math.floor(0x7fffffff / 1000);

/** Parses and runs `ftbroker push …` (argv after "push"); resolves with the exit status. */
export async function pushCommand(argv: string[], io: PushIo): Promise<number> {
  const command = parsePushArgs(argv);
  if (command.kind === 'help') {
    io.stdout.write(pushUsage);
    return 0;
  }
  if (command.kind === 'usage-error') {
    io.stderr.write(`ftbroker push: ${command.message}\n\n${pushUsage}`);
    return 2;
  }
  return runPush(command.options, io);
}

/** Turns the push flags into options; never exits or connects. */
export function parsePushArgs(argv: string[]): PushCliCommand {
  return orUsageError(() => parsePushOrThrow(argv));
}

function parsePushOrThrow(argv: string[]): PushCliCommand {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      broker: { type: 'string' },
      client: { type: 'string' },
      file: { type: 'string' },
      target: { type: 'string' },
      overwrite: { type: 'boolean' },
      timeout: { type: 'string' },
      linger: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return { kind: 'help' };
  const brokerUrl = required('--broker URL', values.broker);
  checkBrokerUrl(brokerUrl);
  return {
    kind: 'run',
    options: {
      brokerUrl,
      clientId: required('--client ID', values.client),
      file: required('--file NAME', values.file),
      target: required('--target PATH', values.target),
      overwrite: values.overwrite === true,
      timeoutMs: (integer('--timeout', values.timeout, 1, maxTimeoutSeconds) ?? defaultTimeoutSeconds) * 1000,
      ...(values.linger !== undefined ? { lingerMs: (integer('--linger', values.linger, 0, maxTimeoutSeconds) ?? 0) * 1000 } : {}),
    },
  };
}

/** Only plain TCP: the push command has no TLS flags, so an mqtts:// broker could not be verified anyway. */
function checkBrokerUrl(text: string): void {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--broker must be a URL like mqtt://127.0.0.1:1883, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'mqtt:' || url.hostname === '') throw new UsageError(`--broker must be a URL like mqtt://127.0.0.1:1883, got ${JSON.stringify(text)}`);
}

/** What one result message means for this push. */
export type PushVerdict = { kind: 'ignore' } | { kind: 'progress' } | { kind: 'done' } | { kind: 'failed'; error: string };

/**
 * Which results are ours: those naming our client (and, once the store answered, our request id, so
 * a concurrent push to the same store is not mistaken for this one). A failure before the push
 * started (missing file, store offline) names no client; it is taken as ours only until our push
 * was answered, since nothing else could then be waiting on it from this command.
 */
export function judgeResult(body: Record<string, unknown>, clientId: string, state: { requestId?: string }): PushVerdict {
  const unattributedFailure = body.clientId === undefined && body.ok === false && state.requestId === undefined;
  if (!unattributedFailure) {
    if (body.clientId !== clientId) return { kind: 'ignore' };
    if (state.requestId !== undefined && body.requestId !== state.requestId) return { kind: 'ignore' };
    if (typeof body.requestId === 'string') state.requestId = body.requestId;
  }
  if (body.ok !== true) return { kind: 'failed', error: describeFailure(body) };
  return body.stage === 'sent' ? { kind: 'done' } : { kind: 'progress' };
}

function describeFailure(body: Record<string, unknown>): string {
  if (typeof body.error === 'string') return body.error;
  const ack = typeof body.ack === 'string' ? body.ack : '(no ack)';
  const reason = typeof body.reason === 'string' ? `: ${body.reason}` : '';
  return `the store answered ${ack}${reason}`;
}

/** Connects, sends the push command and waits for its outcome; resolves with the exit status. */
async function runPush(o: PushCliOptions, io: PushIo): Promise<number> {
  const fail = (message: string): number => {
    io.stderr.write(`ftbroker push: ${message}\n`);
    return 1;
  };
  const deadline = Date.now() + o.timeoutMs;
  let client: MqttClient;
  try {
    client = await mqtt.connectAsync(o.brokerUrl, {
      protocolVersion: 5,
      // Unique, so two push commands at once do not take over each other's session.
      clientId: `ftbroker-push-${randomBytes(4).toString('hex')}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: Math.min(o.timeoutMs, 30_000),
    });
  } catch (err) {
    return fail(`cannot connect to ${o.brokerUrl}: ${errorText(err)}`);
  }
  try {
    const outcome = awaitOutcome(client, o, io, Math.max(0, deadline - Date.now()));
    await sendCommand(client, o);
    const result = await outcome;
    return result.ok ? 0 : fail(result.error);
  } catch (err) {
    return fail(errorText(err));
  } finally {
    // Everything this command needed is acknowledged or given up on; nothing left to flush.
    await client.endAsync(true).catch(() => undefined);
  }
}

/** Subscribes to the results before publishing, so the store's answer cannot be missed. */
async function sendCommand(client: MqttClient, o: PushCliOptions): Promise<void> {
  const granted = await client.subscribeAsync(pushResultTopic, { qos: 1 });
  const code = granted[0]?.qos ?? 0x80;
  if (code >= 0x80) throw new Error(`the broker refused the subscription to ${pushResultTopic} (reason 0x${code.toString(16)})`);
  const command = { clientId: o.clientId, file: o.file, target: o.target, ...(o.overwrite ? { overwrite: true } : {}), ...(o.lingerMs !== undefined ? { lingerMs: o.lingerMs } : {}) };
  await client.publishAsync(pushControlTopic, JSON.stringify(command), { qos: 1 });
}

type Outcome = { ok: true } | { ok: false; error: string };

/** Settles on the push's final result, a lost connection, or the timeout; prints our results meanwhile. */
function awaitOutcome(client: MqttClient, o: PushCliOptions, io: PushIo, timeoutMs: number): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const state: { requestId?: string } = {};
    const finish = (outcome: Outcome): void => {
      clearTimeout(timer);
      client.removeListener('message', onMessage);
      client.removeListener('close', onClose);
      resolve(outcome);
    };
    const onMessage = (topic: string, payload: Buffer): void => {
      if (topic !== pushResultTopic) return;
      const body = parseResult(payload);
      if (body === undefined) return;
      const verdict = judgeResult(body, o.clientId, state);
      if (verdict.kind === 'ignore') return;
      io.stdout.write(`${JSON.stringify(body)}\n`);
      if (verdict.kind === 'done') finish({ ok: true });
      else if (verdict.kind === 'failed') finish({ ok: false, error: verdict.error });
    };
    const onClose = (): void => finish({ ok: false, error: `lost the connection to ${o.brokerUrl}` });
    const timer = setTimeout(() => finish({ ok: false, error: `no final result within ${o.timeoutMs / 1000} s` }), timeoutMs);
    client.on('message', onMessage);
    client.on('close', onClose);
  });
}

function parseResult(payload: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(payload.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    // Not from the broker's push control; someone else publishing on the topic.
    return undefined;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
