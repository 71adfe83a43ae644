import { isValidTopicName } from '../topic-match';
import { TOPIC_ALIAS_MAXIMUM } from './connection-host';
import { ReasonCode } from './reason-codes';

export type TopicResolution = { topic: string } | { code: number; why: string };

/** One connection's inbound MQTT 5 topic aliases (alias → topic name), and the topic name check. */
export class TopicAliases {
  private readonly byAlias = new Map<number, string>();

  resolve(packetTopic: string, alias: number | undefined): TopicResolution {
    let topic = packetTopic;
    if (alias !== undefined) {
      if (alias === 0 || alias > TOPIC_ALIAS_MAXIMUM) return { code: ReasonCode.topicAliasInvalid, why: `topic alias ${alias} out of range` };
      if (topic.length > 0) this.byAlias.set(alias, topic);
      else {
        const known = this.byAlias.get(alias);
        if (known === undefined) return { code: ReasonCode.protocolError, why: `unknown topic alias ${alias}` };
        topic = known;
      }
    }
    if (!isValidTopicName(topic)) return { code: ReasonCode.topicNameInvalid, why: `invalid topic name ${JSON.stringify(topic)}` };
    return { topic };
  }
}
