import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import jobCommand from '../../src/cli/job';
import { isFtError } from '../../src/errors';
import { tempRoot } from './harness';

let t: ReturnType<typeof tempRoot>;
beforeEach(() => (t = tempRoot('ftagent-cli-job-')));
afterEach(() => t.cleanup());

async function run(...argv: string[]): Promise<{ code: number; out: string }> {
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => chunks.push(c));
  const code = await jobCommand.run([...argv, '--state-dir', join(t.root, 'state')], { stdout, stderr: new PassThrough(), env: {}, cwd: t.root });
  return { code, out: Buffer.concat(chunks).toString() };
}

const good = { job_id: 'j1', execution_time: '0 30 2 * * *', duration: 600, tasks: [{ task_id: 1, script_id: 2, type: 'BROADCAST', path: '/data/c*.mp4', target_path: '/media/', groups: ['north'] }] };

describe('ftagent job', () => {
  it('adds, lists and removes a job', async () => {
    writeFileSync(join(t.root, 'job.json'), JSON.stringify(good));
    expect((await run('add', 'job.json')).out).toContain('added store job j1');
    const listed = JSON.parse((await run('list', '--json')).out) as { jobs: { job_id: string; nextRun: string }[] };
    expect(listed.jobs.map((j) => j.job_id)).toEqual(['j1']);
    expect(listed.jobs[0]?.nextRun).toMatch(/T\d\d:30:00/);
    expect((await run('remove', 'j1')).code).toBe(0);
    expect((await run('list')).out).toContain('no store jobs');
  });

  it('takes a standard 5-field crontab as firing at second 0', async () => {
    writeFileSync(join(t.root, 'five.json'), JSON.stringify({ ...good, execution_time: '30 2 * * *', timezone: 'UTC' }));
    expect((await run('add', 'five.json')).code).toBe(0);
    const listed = JSON.parse((await run('list', '--json')).out) as { jobs: { nextRun: string }[] };
    expect(listed.jobs[0]?.nextRun).toMatch(/T02:30:00\.000Z$/);
  });

  it('refuses a 4-field crontab, an unknown time zone and a wildcard in a directory, naming the field', async () => {
    writeFileSync(join(t.root, 'four.json'), JSON.stringify({ ...good, execution_time: '2 * * *' }));
    const e1 = await run('add', 'four.json').catch((e: unknown) => e);
    expect(isFtError(e1, 'CONFIG_INVALID')).toBe(true);
    expect((e1 as Error).message).toMatch(/execution_time.*4 field\(s\); it must have 5 .* or 6 with seconds first/);
    writeFileSync(join(t.root, 'tz.json'), JSON.stringify({ ...good, timezone: 'Mars/Olympus' }));
    const e3 = await run('add', 'tz.json').catch((e: unknown) => e);
    expect(isFtError(e3, 'CONFIG_INVALID')).toBe(true);
    expect((e3 as Error).message).toMatch(/"timezone" is "Mars\/Olympus", which is not a time zone/);
    writeFileSync(join(t.root, 'dir.json'), JSON.stringify({ ...good, tasks: [{ ...good.tasks[0], path: '/data/*/c.mp4' }] }));
    const e2 = await run('add', 'dir.json').catch((e: unknown) => e);
    expect((e2 as Error).message).toMatch(/tasks\[0\]\.path .*only in the file name/);
  });

  it('says which job is missing on remove', async () => {
    const err = await run('remove', 'nope').catch((e: unknown) => e);
    expect(isFtError(err, 'JOB_NOT_FOUND')).toBe(true);
  });
});
