/**
 * The fleet plane's topics under one prefix (default `ftagent/{clientId}`), documented in the
 * README's "Fleet plane" section.
 */
export interface FleetTopics {
  prefix: string;
  /** Retained health document; the connection's will replaces it with the offline one. */
  status: string;
  /** One JSON event per message, QoS 1, not retained. */
  events: string;
  /** What the agent subscribes to when remote requests are enabled. */
  cmdFilter: string;
  /** Where answers go when a request carries no MQTT 5 Response-Topic. */
  cmdResponse: string;
}

export function fleetTopics(template: string, clientId: string): FleetTopics {
  const prefix = template.split('{clientId}').join(clientId);
  return {
    prefix,
    status: `${prefix}/status`,
    events: `${prefix}/events`,
    cmdFilter: `${prefix}/cmd/+`,
    cmdResponse: `${prefix}/cmd/response`,
  };
}

/** The verb of a request topic `<prefix>/cmd/<verb>`, or undefined for anything else (our own answers included). */
export function verbOfTopic(topics: FleetTopics, topic: string): string | undefined {
  const head = `${topics.prefix}/cmd/`;
  if (!topic.startsWith(head)) return undefined;
  const verb = topic.slice(head.length);
  return verb === 'response' || verb === '' || verb.includes('/') ? undefined : verb;
}
