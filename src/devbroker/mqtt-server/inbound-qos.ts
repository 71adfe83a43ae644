/** What a connection knows of a QoS 1/2 packet id it received before. */
export type SeenBefore = { kind: 'qos1' } | { kind: 'qos2'; code: number | null } | undefined;

/** One connection's inbound QoS 1 and 2 packet ids whose acknowledgement exchange has not ended. */
export class InboundQos {
  /** QoS 1 ids whose PUBACK is not sent yet. */
  private readonly qos1 = new Set<number>();
  /** QoS 2 ids until PUBREL: the PUBREC code, null while it is not known yet. */
  private readonly qos2 = new Map<number, number | null>();

  /** Unfinished exchanges, counted against the broker's Receive Maximum. */
  get size(): number {
    return this.qos1.size + this.qos2.size;
  }

  seen(qos: 1 | 2, id: number): SeenBefore {
    if (qos === 2 && this.qos2.has(id)) return { kind: 'qos2', code: this.qos2.get(id) ?? null };
    if (qos === 1 && this.qos1.has(id)) return { kind: 'qos1' };
    return undefined;
  }

  begin(qos: 1 | 2, id: number): void {
    if (qos === 1) this.qos1.add(id);
    else this.qos2.set(id, null);
  }

  /** The message was processed with `rc`; true when its PUBACK/PUBREC must be sent. */
  finish(qos: 1 | 2, id: number, rc: number, v5: boolean): boolean {
    if (qos === 1) {
      this.qos1.delete(id);
      return true;
    }
    if (!this.qos2.has(id)) return false;
    // MQTT 5 §4.3.3: a PUBREC with an error code ends the exchange; no PUBREL follows.
    if (v5 && rc >= 0x80) this.qos2.delete(id);
    else this.qos2.set(id, rc);
    return true;
  }

  /** PUBREL: true when the id was known (PUBCOMP success), false otherwise. */
  release(id: number): boolean {
    return this.qos2.delete(id);
  }
}
