import { randomBytes } from 'node:crypto';
import type { IConnectPacket } from 'mqtt-packet';
import { SESSION_NEVER_EXPIRES } from '../session';
import { ConnackReturnCode, ReasonCode } from './reason-codes';

export interface ConnectPolicy {
  refusingConnections: boolean;
  /** username → password; absent = anyone may connect. */
  users?: Readonly<Record<string, string>>;
}

export type ConnectDecision =
  | {
      accept: true;
      clientId: string;
      /** True when the broker chose the id (the client sent an empty one). */
      assignedClientId: boolean;
      cleanStart: boolean;
      sessionExpiryIntervalSec: number;
    }
  /** `code` is ready for the CONNACK of the client's protocol version. */
  | { accept: false; code: number; reason: string };

/** Whether a CONNECT is admitted, and with which client id and session lifetime. */
export function decideConnect(packet: IConnectPacket, policy: ConnectPolicy): ConnectDecision {
  const v5 = packet.protocolVersion === 5;
  const refuse = (v5Code: number, v3Code: number, reason: string): ConnectDecision => ({ accept: false, code: v5 ? v5Code : v3Code, reason });

  if (policy.refusingConnections) return refuse(ReasonCode.serverUnavailable, ConnackReturnCode.serverUnavailable, 'refusing connections (fault injection)');
  // Enhanced authentication (MQTT 5 AUTH exchanges) is not implemented.
  if (v5 && packet.properties?.authenticationMethod !== undefined) {
    return refuse(ReasonCode.badAuthenticationMethod, ConnackReturnCode.notAuthorized, 'enhanced authentication is not supported');
  }
  if (policy.users && !credentialsMatch(policy.users, packet.username, packet.password)) {
    return refuse(ReasonCode.notAuthorized, ConnackReturnCode.notAuthorized, `bad credentials for user ${JSON.stringify(packet.username ?? '')}`);
  }

  const cleanStart = packet.clean !== false;
  let clientId = packet.clientId;
  let assignedClientId = false;
  if (clientId === '') {
    // MQTT 3.1 forbids an empty id; 3.1.1 allows it only with a clean session (§3.1.3-7); MQTT 5 always.
    if (packet.protocolVersion === 3 || (packet.protocolVersion !== 5 && !cleanStart)) {
      return refuse(ReasonCode.clientIdentifierNotValid, ConnackReturnCode.identifierRejected, 'empty client id without a clean session');
    }
    clientId = `ftbroker-${randomBytes(6).toString('hex')}`;
    assignedClientId = true;
  }

  const sessionExpiryIntervalSec = v5 ? (packet.properties?.sessionExpiryInterval ?? 0) : cleanStart ? 0 : SESSION_NEVER_EXPIRES;
  return { accept: true, clientId, assignedClientId, cleanStart, sessionExpiryIntervalSec };
}

function credentialsMatch(users: Readonly<Record<string, string>>, username: string | undefined, password: Buffer | undefined): boolean {
  if (username === undefined || !Object.prototype.hasOwnProperty.call(users, username)) return false;
  return (password?.toString('utf8') ?? '') === users[username];
}
