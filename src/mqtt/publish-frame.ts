/**
 * The bytes of a QoS 1 PUBLISH up to its payload, built here instead of by MQTT.js: the fixed header
 * (0x32 and the remaining length), the topic, the packet id and, on MQTT 5, an empty property list.
 * The payload follows as its own write, by reference. MQTT.js's publish path (packet object, option
 * merging, outgoing store, a dozen small writes per packet, a deferred uncork) cost more CPU than
 * everything else an upload does per segment; file-transfer commands need none of it.
 */
const QOS1_PUBLISH = 0x32;

export function qos1PublishHeader(topic: string, packetId: number, payloadLength: number, protocolVersion: 4 | 5): Buffer {
  const topicLength = Buffer.byteLength(topic);
  const properties = protocolVersion === 5 ? 1 : 0;
  const remaining = 2 + topicLength + 2 + properties + payloadLength;
  const lengthBytes = remaining < 0x80 ? 1 : remaining < 0x4000 ? 2 : remaining < 0x200000 ? 3 : 4;
  const header = Buffer.allocUnsafe(1 + lengthBytes + 2 + topicLength + 2 + properties);
  header[0] = QOS1_PUBLISH;
  let at = 1;
  for (let rest = remaining; ;) {
    const digit = rest % 0x80;
    rest = Math.floor(rest / 0x80);
    header[at++] = rest > 0 ? digit | 0x80 : digit;
    if (rest === 0) break;
  }
  header.writeUInt16BE(topicLength, at);
  at += 2;
  at += header.write(topic, at, 'utf8');
  header.writeUInt16BE(packetId, at);
  at += 2;
  if (properties) header[at] = 0;
  return header;
}
