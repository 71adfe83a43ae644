import { describe, expect, it } from 'vitest';
import { generate } from 'mqtt-packet';
import { PacketFramer } from '../../src/devbroker/mqtt-server/packet-framer';
import { isValidTopicFilter, isValidTopicName, topicMatches } from '../../src/devbroker/topic-match';

describe('topic filters', () => {
  it.each([
    ['a/b', 'a/b', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['+/+', 'a/b', true],
    ['+', '/a', false],
    ['+/a', '/a', true],
    ['#', '$SYS/x', false],
    ['+/abc/init', '$x/abc/init', false],
    ['$file/#', '$file/f1/init', true],
    ['$file-response/+', '$file-response/gw', true],
    ['a/b', 'a/b/c', false],
  ])('%s matches %s: %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });

  it('accepts wildcards only as whole levels and # only last', () => {
    expect(['#', 'a/#', '+/b/+', '$file/#', '/'].every(isValidTopicFilter)).toBe(true);
    expect(['', 'a/#/b', 'a#', 'a/b+', '#/a'].some(isValidTopicFilter)).toBe(false);
  });

  it('refuses wildcards and empty names as topic names', () => {
    expect(isValidTopicName('$file/f/init')).toBe(true);
    expect(['', 'a/+', 'a/#'].some(isValidTopicName)).toBe(false);
  });
});

describe('packet framer', () => {
  const publish = (size: number): Buffer => generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(size, 1), qos: 1, messageId: 1, dup: false, retain: false }, { protocolVersion: 4 });

  it('reassembles packets split at every byte and splits packets that share a chunk', () => {
    const a = publish(300);
    const b = generate({ cmd: 'pingreq' });
    const stream = Buffer.concat([a, b, a]);
    const framer = new PacketFramer(1024);
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) {
      for (const e of framer.push(stream.subarray(i, i + 1))) if (e.kind === 'packet') out.push(e.bytes);
    }
    expect(out).toEqual([a, b, a]);
    const whole = new PacketFramer(1024).push(stream);
    expect(whole.map((e) => (e.kind === 'packet' ? e.bytes : null))).toEqual([a, b, a]);
  });

  it('refuses a packet from its header alone when it is over the limit', () => {
    const framer = new PacketFramer(1024);
    // Only the first 5 bytes of a 2000-byte PUBLISH.
    const events = framer.push(publish(2000).subarray(0, 5));
    expect(events).toEqual([{ kind: 'too-large', size: publish(2000).length }]);
    expect(framer.push(Buffer.alloc(100))).toEqual([]);
  });

  it('reports a remaining length longer than four bytes as malformed', () => {
    expect(new PacketFramer(1024).push(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]))[0]?.kind).toBe('malformed');
  });
});
