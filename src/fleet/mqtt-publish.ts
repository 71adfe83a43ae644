/**
 * One QoS 1 publish on a given MQTT.js client that settles exactly once: true on its PUBACK,
 * false when the client closes first or nothing comes within `timeoutMs` (MQTT.js keeps an
 * unacknowledged QoS 1 message for a reconnect that our fresh-client-per-connection design never
 * makes, so its callback may never fire; docs/fleet.md).
 */
import type { IClientPublishOptions, MqttClient } from 'mqtt';
import type { Clock } from '../time/clock';

export function publishAcked(client: MqttClient, topic: string, payload: Buffer, options: IClientPublishOptions, clock: Clock, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      cancel();
      client.removeListener('close', onClose);
      resolve(ok);
    };
    const onClose = (): void => settle(false);
    const cancel = clock.after(timeoutMs, () => settle(false));
    client.once('close', onClose);
    if (!client.connected) return settle(false);
    client.publish(topic, payload, { ...options, qos: 1 }, (err) => settle(!err));
  });
}
