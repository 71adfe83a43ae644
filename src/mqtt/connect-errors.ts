/**
 * What went wrong with a connection, as FtErrors a person can act on: CONNACK refusals, TLS trust
 * failures, CONNACKs the agent cannot work with, malformed packets, and reconnect cycles that
 * never got anywhere.
 */
import { createSecureContext } from 'node:tls';
import { FtError, errnoCode } from '../errors';

export const sessionTakenOver = 0x8e;

export function describeDisconnect(rc: number): string {
  const known: Record<number, string> = {
    0x8e: 'session taken over',
    0x8b: 'server shutting down',
    0x95: 'packet too large',
    0x93: 'receive maximum exceeded',
    0x82: 'protocol error',
    0x81: 'malformed packet',
    0x97: 'quota exceeded',
    0x98: 'administrative action',
  };
  return `0x${rc.toString(16).padStart(2, '0')}${known[rc] ? ` (${known[rc]})` : ''}`;
}

/** Errors MQTT.js passes on from its packet parser (they carry no errno and no reason code). */
export function isMalformedPacket(err: Error): boolean {
  if (errnoCode(err) !== undefined || isConnackRefusal(err)) return false;
  return /^(Invalid|Malformed|Cannot parse|Packet too short|Packet must not|Unknown property|Not supported)/.test(err.message);
}

export function stalledError(brokers: readonly string[], cycles: number, lastReason: string): FtError {
  const malformed = /malformed packet/.test(lastReason);
  return new FtError(
    malformed ? 'PROTOCOL_ERROR' : 'GAVE_UP',
    `connected to ${brokers.join(', ')} ${cycles} times in a row and lost the link each time before the transfer moved forward (last: ${lastReason}); ` +
      (malformed
        ? 'the broker sends packets MQTT does not allow'
        : 'the broker may be refusing what is sent (e.g. a packet above its size limit: try a smaller --chunk-size) or another client uses this client id'),
    { transient: true, details: { cycles, lastReason } },
  );
}

export function isConnackRefusal(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'ErrorWithReasonCode';
}

const authCodes = new Set([4, 5, 0x86, 0x87, 0x8a, 0x8c]);
const tlsTrustCodes = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME|ERR_SSL|EPROTO/;

export function classifyConnectError(url: string, err: unknown): FtError {
  const message = err instanceof Error ? err.message : 'connection closed before CONNACK';
  if (isConnackRefusal(err)) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'number' && authCodes.has(code)) {
      return new FtError('AUTH_FAILED', `broker ${url} refused the credentials (${message}, rc ${code}): check --username and --password-file / FTAGENT_PASSWORD`, {
        details: { broker: url, reasonCode: code },
      });
    }
    if (code === 2 || code === 0x85) {
      return new FtError('CONFIG_INVALID', `broker ${url} refused the client id (${message}, rc ${code}): choose a shorter id of letters, digits and - (--client-id / "clientId")`, {
        details: { broker: url, reasonCode: code },
      });
    }
    return new FtError('CONNECT_FAILED', `broker ${url} refused the connection: ${message}`, {
      transient: true,
      details: { broker: url, reasonCode: code },
    });
  }
  const errno = errnoCode(err) ?? '';
  // TLS alerts the broker sends about our side: it wants a client certificate, or refused ours.
  if (
    /ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|ACCESS_DENIED)/.test(errno) ||
    /alert (certificate required|bad certificate|unknown ca|certificate unknown)/i.test(message)
  ) {
    return new FtError(
      'AUTH_FAILED',
      `broker ${url} refused the TLS client certificate (${errno || message.split('\n')[0]}): it requires one its CA signed; pass --cert FILE and --key FILE (config tls.cert, tls.key)`,
      { details: { broker: url, errno } },
    );
  }
  if (tlsTrustCodes.test(errno) || /certificate|self[- ]signed|SSL routines/i.test(message)) {
    return new FtError('CONFIG_INVALID', `TLS to ${url} failed: ${message}${errno ? ` (${errno})` : ''}: pass the broker's CA with --ca FILE (or --insecure to skip the check)`, {
      details: { broker: url, errno },
    });
  }
  return new FtError('CONNECT_FAILED', `cannot connect to ${url}: ${message}${errno && !message.includes(errno) ? ` (${errno})` : ''}`, {
    transient: true,
    details: { broker: url, errno },
  });
}

/**
 * TLS files that can never work, found before connecting (a retry cannot fix them): a CA or
 * certificate that is not PEM, a key that is not a key, a key that does not belong to its
 * certificate. `names` says how the person called each file (--cert or "tls.cert").
 */
export function tlsMaterialProblem(tls: { ca?: Buffer; cert?: Buffer; key?: Buffer }, names: { ca: string; cert: string; key: string }): string | undefined {
  const attempts: Array<[string, () => void]> = [
    [names.ca, () => tls.ca && createSecureContext({ ca: tls.ca })],
    [names.cert, () => tls.cert && createSecureContext({ cert: tls.cert })],
    [names.key, () => tls.key && createSecureContext({ key: tls.key })],
    [`${names.key} with ${names.cert}`, () => tls.cert && tls.key && createSecureContext({ cert: tls.cert, key: tls.key })],
  ];
  for (const [name, attempt] of attempts) {
    try {
      attempt();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (/values mismatch/.test(why)) return `${name}: the private key does not belong to the certificate; give the key the certificate was issued for`;
      return `${name} is not usable PEM (${why}); give the PEM file itself`;
    }
  }
  return undefined;
}
