import type { ISubscribePacket } from 'mqtt-packet';
import type { Session } from '../session';
import { isValidTopicFilter } from '../topic-match';
import { ReasonCode } from './reason-codes';

/** Records a SUBSCRIBE's filters in the session; the SUBACK codes, one per filter (QoS 1 at most). */
export function grantSubscriptions(session: Session, packet: ISubscribePacket, v5: boolean): number[] {
  return packet.subscriptions.map((sub) => {
    if (sub.topic.startsWith('$share/') || sub.topic.startsWith('$queue/')) return v5 ? ReasonCode.sharedSubscriptionsNotSupported : 0x80;
    if (!isValidTopicFilter(sub.topic)) return v5 ? ReasonCode.topicFilterInvalid : 0x80;
    const qos: 0 | 1 = sub.qos === 0 ? 0 : 1;
    session.subscriptions.set(sub.topic, { qos, noLocal: v5 && sub.nl === true, retainAsPublished: v5 && sub.rap === true });
    return qos;
  });
}

/** The granted filters whose retained messages go out; MQTT 5 Retain Handling 2 asks for none. */
export function retainedToSend(packet: ISubscribePacket, granted: number[], v5: boolean): Array<{ filter: string; qos: 0 | 1 }> {
  const out: Array<{ filter: string; qos: 0 | 1 }> = [];
  packet.subscriptions.forEach((sub, i) => {
    const qos = granted[i];
    if ((qos === 0 || qos === 1) && !(v5 && sub.rh === 2)) out.push({ filter: sub.topic, qos });
  });
  return out;
}
