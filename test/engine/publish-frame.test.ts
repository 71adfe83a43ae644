import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { qos1PublishHeader } from '../../src/mqtt/publish-frame';

/** The reference: MQTT.js's own codec, the whole packet. */
function reference(topic: string, messageId: number, payload: Buffer, protocolVersion: 4 | 5): Buffer {
  return mqttPacket.generate({ cmd: 'publish', qos: 1, dup: false, retain: false, topic, messageId, payload, ...(protocolVersion === 5 ? { properties: {} } : {}) }, { protocolVersion });
}

describe('the hand-built QoS 1 PUBLISH header', () => {
  const topics = ['$file/f1/init', `$file/${'x'.repeat(200)}/4294967296/${'a'.repeat(64)}`, '$file-async/fé/0'];
  // Remaining lengths on both sides of every variable-byte-integer boundary.
  const payloadSizes = [0, 1, 100, 127, 128, 16_383, 16_384, 65_536, 2_097_151, 2_097_152, 3_000_000];
  for (const protocolVersion of [4, 5] as const) {
    it(`is byte for byte what mqtt-packet generates, header then payload (MQTT ${protocolVersion === 5 ? '5' : '3.1.1'})`, () => {
      for (const topic of topics) {
        for (const size of payloadSizes) {
          const payload = Buffer.alloc(size, 7);
          for (const id of [1, 255, 256, 65_535]) {
            const ours = Buffer.concat([qos1PublishHeader(topic, id, size, protocolVersion), payload]);
            expect(ours.equals(reference(topic, id, payload, protocolVersion)), `${topic} ${size} ${id}`).toBe(true);
          }
        }
      }
    });
  }
});
