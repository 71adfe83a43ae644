import type { NftpWidth } from '../../src/protocol/nftp-packets';
import { NftpReceiver, type NftpReceiveResult } from '../../src/transfer/nftp/nftp-receiver';
import { NftpSender, type NftpSendResult } from '../../src/transfer/nftp/nftp-sender';
import type { NftpSink, NftpSource } from '../../src/transfer/nftp/nftp-ports';
import { bytesSource } from './bytes-source';
import { FakeClock } from '../helpers/fake-clock';
import { MemorySink } from './memory-sink';
import { MemoryTopic, type Delivery, type Fault } from './memory-topic';

export interface PairOptions<S extends NftpSink> {
  blockSize: number;
  width?: NftpWidth;
  fault?: (d: Delivery, index: number) => Fault;
  sink?: S;
  stallMs?: number;
  source?: NftpSource;
}

/** A sender and a receiver wired through one in-memory topic, both on the same fake clock. */
export function sessionPair<S extends NftpSink = MemorySink>(content: Uint8Array, o: PairOptions<S>) {
  const clock = new FakeClock();
  const topic = new MemoryTopic(clock, o.fault);
  const sink = (o.sink ?? new MemorySink()) as S;
  const sender = new NftpSender({
    link: topic.link('sender'),
    source: o.source ?? bytesSource(content, o.blockSize),
    clock,
    name: 'x.bin',
    blockSize: o.blockSize,
    ...(o.width ? { width: o.width } : {}),
    helloTimeoutMs: 2000,
    helloRetries: 3,
    intervalMs: 5,
    window: 4,
    lingerMs: 10_000,
  });
  const receiver = new NftpReceiver({
    link: topic.link('receiver'),
    clock,
    sink,
    blockSize: o.blockSize,
    ...(o.width ? { width: o.width } : {}),
    ...(o.stallMs !== undefined ? { stallMs: o.stallMs } : {}),
  });
  topic.attach('sender', (b) => sender.receive(b));
  topic.attach('receiver', (b) => receiver.receive(b));
  const run = async (): Promise<{ sent: NftpSendResult; received: NftpReceiveResult }> => {
    const received = receiver.run();
    const sent = sender.run();
    const idle = () => Promise.all([sender.whenIdle(), receiver.whenIdle()]);
    const [r, s] = await clock.runUntilSettled(Promise.all([received, sent]), 3_600_000, idle);
    return { sent: s, received: r };
  };
  return { clock, topic, sink, sender, receiver, run };
}
