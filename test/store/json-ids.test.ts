import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StoreJobStore } from '../../src/jobs/store-job-state';
import { buildSniffRequest, decodeSnifferMessage, encodeSnifferRequest, encodeSnifferResponse } from '../../src/protocol/file-sniffer';
import { JsonSyntaxError, parseJsonKeepingIds, stringifyJson } from '../../src/protocol/json-ids';
import { systemClock } from '../../src/time/clock';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { runStoreUpload } from '../../src/transfer/store/store-upload';
import { runCli } from '../helpers/cli-run';
import { connectAgent, fastNftp, sampleFile, startStoreBroker, tempRoot } from './harness';

let t: ReturnType<typeof tempRoot>;
beforeEach(() => (t = tempRoot('ftagent-ids-')));
afterEach(() => t.cleanup());

const jobText = `{"job_id": 12345678901234567890, "execution_time": "0 30 2 * * *", "duration": 60,
  "tasks": [{"task_id": 100, "script_id": "s-7", "type": "BROADCAST", "path": "/data/a.bin",
             "target_path": "/t/", "groups": [9007199254740993, "north"], "retry_times": 1}]}`;

describe('ids keep their JSON type and every digit', () => {
  it('parses numbers under id keys as written, and every other value as JSON.parse does', () => {
    const v = parseJsonKeepingIds(jobText) as Record<string, unknown>;
    expect(String(v.job_id)).toBe('12345678901234567890');
    expect(v.duration).toBe(60);
    expect(stringifyJson(v)).toBe(JSON.stringify(JSON.parse(jobText)).replace('12345678901234567000', '12345678901234567890').replace('9007199254740992', '9007199254740993'));
    expect(parseJsonKeepingIds('{"a":[1,{"b":"\\u00e9\\n"}],"c":null,"d":true,"e":-1.5e3}')).toEqual({ a: [1, { b: 'é\n' }], c: null, d: true, e: -1500 });
    for (const bad of ['{"a":1,}', '{"a" 1}', '[1', '"x', '{"a":01}', '{} x']) expect(() => parseJsonKeepingIds(bad), bad).toThrow(JsonSyntaxError);
  });

  it('sends job_id 12345678901234567890 and task_id 100 as those numbers, and echoes them unchanged', () => {
    const v = parseJsonKeepingIds(jobText) as { job_id: never; tasks: { task_id: never; script_id: string; groups: never[] }[] };
    const task = v.tasks[0] as (typeof v.tasks)[0];
    const wire = encodeSnifferRequest(
      buildSniffRequest('broadcast', { path: '/data/a.bin', target_path: '/t/a.bin', job_id: v.job_id, task_id: task.task_id, script_id: task.script_id, groups: task.groups }),
    ).toString();
    expect(wire).toContain('"job_id":12345678901234567890');
    expect(wire).toContain('"task_id":100,');
    expect(wire).toContain('"groups":[9007199254740993,"north"]');
    // The other side echoes every field as it came.
    const decoded = decodeSnifferMessage('$file_sniffer/v1/broadcast/gw', Buffer.from(wire));
    if (decoded.kind !== 'request') throw new Error('unreachable');
    const echo = encodeSnifferResponse(decoded.fields, { ack: 'ok' }).toString();
    expect(echo).toContain('"job_id":12345678901234567890');
    expect(echo).toContain('"script_id":"s-7"');
  });

  it('keeps them through `ftagent job add`, the job file, and the request the store server receives', async () => {
    const stateDir = join(t.root, 'state');
    const src = join(t.root, 'src');
    mkdirSync(src);
    const f = sampleFile(src, 'a.bin', 3000);
    writeFileSync(join(t.root, 'job.json'), jobText.replace('/data/a.bin', f.path));
    expect((await runCli(['job', 'add', 'job.json', '--state-dir', stateDir], t.root)).code).toBe(0);
    const stored = await new StoreJobStore(createNodeDurableFs(), stateDir).get('12345678901234567890');
    const job = stored?.job;
    if (!job) throw new Error('the job was not stored');
    const task = job.tasks[0];
    if (!task) throw new Error('the job has no task');
    expect(stringifyJson({ job_id: job.sentJobId, task_id: task.task_id, script_id: task.script_id })).toBe('{"job_id":12345678901234567890,"task_id":100,"script_id":"s-7"}');

    const b = await startStoreBroker(t.root);
    const a = await connectAgent(b.url, 'gw-ids');
    try {
      const r = await runStoreUpload({
        channel: a.channel,
        clock: systemClock,
        verb: 'broadcast',
        file: f.path,
        target_path: '/t/a.bin',
        job_id: job.sentJobId,
        task_id: task.task_id,
        script_id: task.script_id,
        groups: task.groups,
        nftp: fastNftp,
      });
      r.linger.stop();
      const got = await b.store.results.wait((x) => x.topic === r.topic);
      expect(got).toMatchObject({ ok: true, job_id: '12345678901234567890', task_id: '100' });
    } finally {
      await a.close();
      await b.stop();
    }
  });
});
