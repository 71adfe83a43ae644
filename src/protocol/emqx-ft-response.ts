/**
 * `$file-response/{clientid}` payloads (docs/emqx-ft.md §4):
 * `{"vsn":"0.1","topic":…,"packet_id":7,"reason_code":0,"reason_description":"success"}`.
 * Anyone may publish there, so the parser is defensive: it never throws, it says what was wrong.
 */

export interface FileResponse {
  topic: string;
  packetId: number;
  reasonCode: number;
  reasonDescription: string;
}

export type ParsedFileResponse = { ok: true; response: FileResponse } | { ok: false; problem: string };

export function parseFileResponse(payload: Uint8Array): ParsedFileResponse {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, problem: 'not a JSON object' };
  const v = value as Record<string, unknown>;
  if (typeof v.topic !== 'string' || v.topic === '') return { ok: false, problem: 'no "topic" string' };
  if (typeof v.packet_id !== 'number' || !Number.isInteger(v.packet_id)) return { ok: false, problem: 'no integer "packet_id"' };
  if (typeof v.reason_code !== 'number' || !Number.isInteger(v.reason_code) || v.reason_code < 0 || v.reason_code > 255) {
    return { ok: false, problem: 'no "reason_code" in 0..255' };
  }
  const description = typeof v.reason_description === 'string' ? v.reason_description : '';
  return {
    ok: true,
    response: { topic: v.topic, packetId: v.packet_id, reasonCode: v.reason_code, reasonDescription: description },
  };
}

export function encodeFileResponse(r: FileResponse): Buffer {
  return Buffer.from(JSON.stringify({ vsn: '0.1', topic: r.topic, packet_id: r.packetId, reason_code: r.reasonCode, reason_description: r.reasonDescription }));
}
