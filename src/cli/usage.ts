/**
 * The usage text of every command, in a module that imports nothing heavy: `ftagent CMD --help`
 * prints it without loading the command itself (mqtt.js and the upload engine for `send`, the
 * daemon for `run`), so help costs about as much as `--version`.
 */
import { defaultConfigPath } from '../config/load-config';

const queueUsage = `
Queued (the daemon sends it; works whether or not the daemon runs):
  --queue                 write a job into the daemon's spool and print its id at once
  --wait                  then wait until the job ends; exit status as above (130 if cancelled)
  --wait-timeout SECONDS  stop waiting after this long: exit 5 TIMEOUT, the job stays queued
  --config FILE           the daemon's config, for its state directory
                          (default $FTAGENT_CONFIG, else /etc/ftagent/config.json)
  --on-change fail|restart  if FILE changes before it is sent: fail the job (default) or send
                          the new content under a new file id
  --priority high|normal|low  high starts at once, even beside a running upload, and takes the
                          window first; low is dropped first when the spool is full (default normal)
  Exit 6 (SPOOL_FULL): the queue is at spool.maxJobs / spool.maxBytes and the job was not queued.
  Connection flags, --mode and --max-rate do not apply: the daemon's config decides them.
`;

export const sendUsage = `Usage: ftagent send FILE [options]

Uploads FILE to the broker with EMQX File Transfer over MQTT and exits when it is there.

Connection:
  --broker URL            mqtt://host:port or mqtts://host:port; repeat it or give a comma
                          list for failover across the nodes of a cluster (required)
  --client-id ID          MQTT client id (default: ftagent-<hostname>-<pid>)
  --username U
  --password-file F       file holding the password (or env FTAGENT_PASSWORD)
  --ca F --cert F --key F TLS: CA bundle, client certificate and key (PEM)
  --insecure              do not check the broker's certificate
  --mqtt 5|3.1.1          protocol version (default 5)

Transfer:
  --mode sync|async       sync: results in PUBACKs (MQTT 5 only); async: on $file-response
                          (default: sync on MQTT 5, async on 3.1.1)
  --chunk-size BYTES      segment size (default 65536)
  --window N              commands in flight (default 16, never above the broker's Receive Maximum)
  --max-rate RATE         cap on bytes per second sent, e.g. 256k or 2M (default: no cap)
  --file-id ID            (default: a new UUID)
  --name NAME             name on the broker (default: the file's base name, made safe)
  --user-data JSON        user_data of the file metadata
  --meta KEY=VALUE        adds KEY to user_data (repeatable)
  --segments-ttl SECONDS  how long the broker keeps segments of an unfinished transfer
  --expire-at EPOCH       expiry stored with the file (Unix seconds)
  --segment-checksums     put the SHA-256 of each segment in its topic
  --fin-timeout SECONDS   wait for the fin result (default 330, at most 86400)
  --command-timeout SECONDS  wait for any other result before re-sending (default 30, at most 3600)

Output:
  --json                  print one JSON result object on stdout
  --quiet                 no progress, no summary
  --log-level LEVEL       fatal|error|warn|info|debug|trace (default warn; logs go to stderr)

Exit status: 0 on the broker; 2 usage or configuration error (also refused credentials or
certificate); 3 FILE cannot be read or changed while sending; 4 the broker rejected the file for
good; 5 gave up after bounded retries; 130 interrupted.
${queueUsage}`;

export const fetchUsage = `Usage: ftagent fetch REMOTE_PATH --to LOCAL_PATH [options]

Asks the store server for REMOTE_PATH (a "download" request) and receives it with nftp.
The file is written to LOCAL_PATH.part, its CRC-32C checked, and only then renamed to LOCAL_PATH.
If LOCAL_PATH is an existing folder, the file keeps its remote name inside it.

  --to PATH               where to put the file (required)
  --overwrite             replace an existing file (atomically); without it, an existing file is an error

Connection (as for \`ftagent send\`):
  --broker URL            mqtt://host:port or mqtts://host:port; repeat or comma-separate for failover
  --client-id ID          MQTT client id (default: ftagent-<hostname>-<pid>)
  --username U  --password-file F (or env FTAGENT_PASSWORD)
  --ca F --cert F --key F --insecure
  --mqtt 5|3.1.1          protocol version (default 5)

nftp (both sides must agree):
  --block-size BYTES      default 32768
  --nftp-width u16|u32    FILE/END content-length width (default u16)
  --timeout SECONDS       wait for the server's answer to the request (default 10)
  --hello-wait SECONDS    wait for the first nftp packet after "ok" (default 30)

Output:
  --json  --quiet  --log-level LEVEL (default warn; logs go to stderr)

Exit status: 0 received and verified; 2 usage or configuration error; 4 the server answered
NOT_EXIST (NOT_FOUND), NOT_ALLOW (NOT_ALLOWED) or ERROR (REMOTE_ERROR), or LOCAL_PATH is not
allowed; 5 no answer, lost connection, a stalled transfer or a file that failed its CRC-32C check;
1 other failures (disk full: the partial file is removed).
`;

export const runUsage = `Usage: ftagent run [--config FILE]

Runs the agent until SIGTERM or SIGINT: sends the jobs queued with \`ftagent send FILE --queue\`
and the files of the configured watch folders, at most "maxConcurrent" at once, over one MQTT
connection. Unfinished jobs resume from their checkpoint at start.

With "store.enabled" it also runs the store flows on the same connection: the store jobs added
with \`ftagent job add\` fire on their schedule (offline too; a transfer waits for the link),
files pushed by the store server are written under "store.receive.roots", and dir requests are
answered for "store.receive.browseRoots".

  --config FILE   config file (default $FTAGENT_CONFIG, else /etc/ftagent/config.json)

Logs are JSON lines on stdout. A first SIGTERM/SIGINT checkpoints running transfers and exits 0;
a second exits at once (also safe). Exit status 2: the config is invalid.
`;

export const statusUsage = `Usage: ftagent status [JOB] [--json] [--config FILE]

Lists queued, active (with progress), done, failed and cancelled jobs, newest finished first,
then the store jobs (ftagent job add) with their next firing and last run; or one JOB (either
kind) in detail. Reads the daemon's state directory; works whether or not the daemon runs.

  --json          one JSON object on stdout
  --config FILE   the daemon's config (default $FTAGENT_CONFIG, else /etc/ftagent/config.json)

Exit status: 0; 2 no such job.
`;

export const cancelUsage = `Usage: ftagent cancel JOB [--config FILE]

Cancels a queued or active job. With the daemon running, waits (up to 15 s) until it has acted and
prints the job's final state; otherwise the job is cancelled when the daemon starts.

Exit status: 0 cancelled (or will be); 1 the job had already finished otherwise; 2 no such job.
`;

export const configUsage = `Usage: ftagent config check [--config FILE]

Validates the config file (default ${defaultConfigPath}) without starting the agent.
Prints "config OK: <path>" and a summary, or the first problem (key, what is wrong, the fix)
and exits with status 2.
`;

export const jobUsage = `Usage: ftagent job add FILE [--replace] [--state-dir DIR | --config FILE]
       ftagent job list [--json] [--state-dir DIR | --config FILE]
       ftagent job remove ID [--state-dir DIR | --config FILE]

Store jobs: a JSON file with job_id, execution_time (crontab: 5 fields, or 6 with seconds first),
duration (seconds), an optional IANA timezone, and tasks (task_id, script_id, type BROADCAST or
UPLOAD_TO_SERVER, path with * or ? in the file name only, target_path, groups or servers,
retry_times, retry_interval seconds). Ids keep their JSON type and every digit.
A running daemon sees added and removed jobs at once.
The state dir comes from --state-dir, else from the config file (default ${defaultConfigPath}).
`;
