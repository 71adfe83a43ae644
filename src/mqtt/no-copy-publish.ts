/**
 * Stops MQTT.js from copying every QoS 1 payload.
 *
 * Before it writes a QoS 1 PUBLISH, MQTT.js deep-copies the packet, payload included (`rfdc`, in
 * `MqttClient#_storeAndSend`), and keeps the copy in its outgoing store so that it could re-send it
 * after a reconnect. The copy is made by the client before the store sees the packet, so a custom
 * `outgoingStore` cannot avoid it. ftagent never lets MQTT.js re-send: every connection gets a fresh
 * client with `reconnectPeriod: 0` (connection.ts) and the sessions re-send from their own state.
 * For us the copy is pure cost: one chunk-sized buffer per segment, outside the V8 heap, freed only
 * when the garbage collector gets round to it. Measured on a 1 GiB upload (64 KiB chunks, window
 * 16) those dead copies alone held ~40 MiB of resident memory, so memory grew with the file size.
 *
 * `storeWithoutCopy` replaces that one step on one client: the packet itself (a reference to the
 * caller's buffer) goes into the outgoing store, then it is written exactly as before. This is only
 * safe because of the rule the upload engine keeps: a buffer handed to `publish` is not reused until
 * the PUBACK of that send or the death of the client that carried it (transfer/emqx-ft/chunk-reader.ts,
 * `Chunk`; test/engine/buffer-reuse.test.ts checks it). A client closed by us never writes again.
 *
 * It relies on MQTT.js internals, so it checks their shape and leaves the client untouched (MQTT.js
 * keeps copying, which is correct, only more memory) when they are not what it expects;
 * test/engine/no-copy-publish.test.ts fails if an upgrade of `mqtt` makes it a no-op.
 */
import type { MqttClient, Packet } from 'mqtt';

type Done = (err?: Error) => void;
type StoreAndSend = (this: ClientInternals, packet: Packet, cb: Done | undefined, cbStorePut: () => void) => void;

interface ClientInternals {
  outgoingStore: { put(packet: Packet, cb: (err?: Error) => void): unknown };
  _storeAndSend?: unknown;
  _writePacket?: unknown;
}

const installed = new WeakSet<MqttClient>();

/** Returns true when QoS 1 publishes of this client are stored by reference from now on. */
export function storeWithoutCopy(client: MqttClient): boolean {
  if (installed.has(client)) return true;
  const internals = client as unknown as ClientInternals;
  const original = internals._storeAndSend;
  const writePacket = internals._writePacket;
  // The MQTT.js 5 shapes: _storeAndSend(packet, cb, cbStorePut) and _writePacket(packet, cb).
  if (typeof original !== 'function' || original.length !== 3 || typeof writePacket !== 'function' || writePacket.length !== 2) return false;
  const copying = original as StoreAndSend;
  const write = writePacket as (this: ClientInternals, packet: Packet, cb: Done | undefined) => void;
  const byReference: StoreAndSend = function (packet, cb, cbStorePut) {
    // A topic alias makes MQTT.js store a repaired copy with the full topic: leave that path alone
    // (ftagent never sets aliases, so this is only a guard). PUBREL (QoS 2) is not ours either.
    if (packet.cmd !== 'publish' || packet.properties?.topicAlias !== undefined) {
      copying.call(this, packet, cb, cbStorePut);
      return;
    }
    this.outgoingStore.put(packet, (err) => {
      if (err) {
        cb?.(err);
        return;
      }
      cbStorePut();
      write.call(this, packet, cb);
    });
  };
  Object.defineProperty(client, '_storeAndSend', { value: byReference, configurable: true, writable: true });
  installed.add(client);
  return true;
}
