import type { IConnectPacket, IPublishPacket } from 'mqtt-packet';
import type { MessageProperties } from '../session';
import type { RoutedMessage } from '../session-store';
import type { InboundPublish } from '../types';

export type ProtocolVersion = 3 | 4 | 5;

/** A CONNECT's will as the message to route when the connection ends without a normal DISCONNECT. */
export function willToMessage(will: NonNullable<IConnectPacket['will']>, version: ProtocolVersion): RoutedMessage {
  const props = version === 5 ? will.properties : undefined;
  return {
    topic: will.topic,
    payload: typeof will.payload === 'string' ? Buffer.from(will.payload) : will.payload,
    qos: will.qos ?? 0,
    retain: will.retain === true,
    ...(props ? { properties: routedProperties(props) } : {}),
  };
}

/** The MQTT 5 properties a subscriber receives unchanged (MQTT 5 §3.3.2.3). */
export function routedProperties(props: NonNullable<IPublishPacket['properties']>): MessageProperties {
  const out: MessageProperties = {};
  if (props.responseTopic !== undefined) out.responseTopic = props.responseTopic;
  if (props.correlationData !== undefined) out.correlationData = props.correlationData;
  if (props.userProperties !== undefined) out.userProperties = props.userProperties;
  if (props.contentType !== undefined) out.contentType = props.contentType;
  if (props.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = props.payloadFormatIndicator;
  return out;
}

export function interceptorProperties(props: NonNullable<IPublishPacket['properties']>): NonNullable<InboundPublish['properties']> {
  const out: NonNullable<InboundPublish['properties']> = {};
  if (props.responseTopic !== undefined) out.responseTopic = props.responseTopic;
  if (props.correlationData !== undefined) out.correlationData = props.correlationData;
  if (props.userProperties !== undefined) out.userProperties = props.userProperties;
  return out;
}
