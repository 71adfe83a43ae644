/**
 * MQTT.js's own trace (`DEBUG=mqttjs*`), with secrets taken out. MQTT.js prints every packet it
 * writes, the CONNECT with its password included; its client accepts a `log` function instead of its
 * `debug` logger, so ftagent hands it this one: same `DEBUG=mqttjs*` switch, same lines on stderr,
 * but `password`/`passphrase`/`key` values and any copy of the password itself become "[redacted]".
 */
import { formatWithOptions } from 'node:util';

const secretKeys = /^(password|passphrase|key)$/i;
const redacted = '[redacted]';

export function mqttTraceWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return /mqttjs/.test(env['DEBUG'] ?? '');
}

/** A `log` for MQTT.js that writes redacted trace lines to `write` (stderr by default). */
export function redactedMqttTrace(secrets: readonly string[], write: (line: string) => void = (l) => process.stderr.write(l)): (...args: unknown[]) => void {
  const words = secrets.filter((s) => s.length > 0);
  return (...args: unknown[]) => {
    let text = formatWithOptions({ depth: 4, colors: false, breakLength: Infinity }, ...args.map((a) => scrub(a, 0)));
    for (const w of words) text = text.split(w).join(redacted);
    write(`${new Date().toISOString()} mqttjs:client ${text}\n`);
  };
}

const stderrSecrets = new Set<string>();

/**
 * With DEBUG set, other modules' `debug` output reaches stderr too, and mqtt-packet's
 * (`DEBUG=mqtt-packet*` or `*`) prints each string it writes, the password among them. No option
 * reaches that logger, so stderr itself takes the password out while DEBUG is set (whole lines: the
 * debug module writes one line per call).
 */
export function redactStderrWhileDebugging(secret: string, env: NodeJS.ProcessEnv = process.env): void {
  if (!env['DEBUG'] || secret === '' || stderrSecrets.has(secret)) return;
  if (stderrSecrets.size === 0) {
    const write = process.stderr.write.bind(process.stderr) as (chunk: unknown, ...rest: unknown[]) => boolean;
    const scrub = (text: string): string => {
      let out = text;
      for (const w of stderrSecrets) out = out.split(w).join(redacted);
      return out;
    };
    process.stderr.write = (chunk: unknown, ...rest: unknown[]) =>
      write(typeof chunk === 'string' ? scrub(chunk) : Buffer.isBuffer(chunk) ? Buffer.from(scrub(chunk.toString('utf8')), 'utf8') : chunk, ...rest);
  }
  stderrSecrets.add(secret);
}

/** A copy with secret-named fields replaced; strings and numbers pass (the text is scrubbed after). */
function scrub(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null || depth > 4) return value;
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = secretKeys.test(k) && v !== undefined ? redacted : scrub(v, depth + 1);
  return out;
}
