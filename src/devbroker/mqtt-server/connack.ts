import type { IConnackPacket } from 'mqtt-packet';
import type { ConnectDecision } from './connect-decision';
import { TOPIC_ALIAS_MAXIMUM, type ConnectionHost } from './connection-host';
import type { ProtocolVersion } from './message-properties';
import { ReasonCode } from './reason-codes';

/** The CONNACK that refuses: an MQTT 5 reason code or a 3.1.1 return code. */
export function refusingConnack(version: ProtocolVersion, code: number): IConnackPacket {
  return version === 5 ? { cmd: 'connack', sessionPresent: false, reasonCode: code } : { cmd: 'connack', sessionPresent: false, returnCode: code };
}

/** The CONNACK that accepts, with the MQTT 5 properties a client sizes itself by (EMQX announces the same set). */
export function acceptingConnack(
  version: ProtocolVersion,
  sessionPresent: boolean,
  host: Pick<ConnectionHost, 'advertiseReceiveMaximum' | 'receiveMaximum' | 'maximumPacketSize'>,
  decision: Extract<ConnectDecision, { accept: true }>,
): IConnackPacket {
  if (version !== 5) return { cmd: 'connack', sessionPresent, returnCode: 0 };
  return {
    cmd: 'connack',
    sessionPresent,
    reasonCode: ReasonCode.success,
    properties: {
      ...(host.advertiseReceiveMaximum ? { receiveMaximum: host.receiveMaximum } : {}),
      maximumPacketSize: host.maximumPacketSize,
      topicAliasMaximum: TOPIC_ALIAS_MAXIMUM,
      retainAvailable: true,
      sharedSubscriptionAvailable: false,
      subscriptionIdentifiersAvailable: false,
      wildcardSubscriptionAvailable: true,
      ...(decision.assignedClientId ? { assignedClientIdentifier: decision.clientId } : {}),
    },
  };
}
