import { chance, type Prng } from '../prng';
import type { BrokerCore } from '../types';
import { type FtResult, resultToReasonCode } from './ft-result';
import type { TimerSet } from './timers';

/**
 * `$file-response` publishing (docs/emqx-ft.md §4): QoS 1 JSON to the command's Response-Topic or to
 * `$file-response/{clientid}`, echoing Correlation-Data. The `responseDelayMs` and
 * `responseLossRate` faults apply here.
 */
export interface ReplyTarget {
  clientId: string;
  /** The full command topic as received. */
  topic: string;
  packetId: number;
  responseTopic?: string;
  correlationData?: Buffer;
}

export interface ResponseFaults {
  responseDelayMs?: number;
  responseLossRate?: number;
}

/** Keys in the order jiffy writes EMQX's map (sorted); clients must not depend on it. */
function encodeResponse(target: ReplyTarget, result: FtResult): Buffer {
  return Buffer.from(
    JSON.stringify({
      packet_id: target.packetId,
      reason_code: resultToReasonCode(result),
      reason_description: result.ok ? 'success' : result.reason,
      topic: target.topic,
      vsn: '0.1',
    }),
  );
}

export class Responder {
  constructor(
    private readonly core: BrokerCore,
    private readonly prng: Prng,
    private readonly faults: ResponseFaults,
    private readonly timers: TimerSet,
  ) {}

  publish(target: ReplyTarget, result: FtResult): void {
    if (chance(this.prng, this.faults.responseLossRate)) {
      this.core.log.debug({ topic: target.topic, packetId: target.packetId }, 'ft: response dropped (fault)');
      return;
    }
    const send = (): void =>
      this.core.publish({
        topic: target.responseTopic ?? `$file-response/${target.clientId}`,
        payload: encodeResponse(target, result),
        qos: 1,
        ...(target.correlationData !== undefined ? { properties: { correlationData: target.correlationData } } : {}),
      });
    const delay = this.faults.responseDelayMs ?? 0;
    if (delay > 0) this.timers.after(delay, send);
    else send();
  }
}
