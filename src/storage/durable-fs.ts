/**
 * The file-system ports. Every durable write in the agent goes through `DurableFs`, which is built
 * once (durable-ops.ts) on top of a smaller `RawFs`. Two `RawFs` exist: the real one (node-fs.ts)
 * and the power-cut simulator (test/helpers/crash-fs.ts). Keeping the write recipe above the raw layer means the
 * crash tests exercise exactly the code that runs on the device.
 */

/** State files hold job specs and broker metadata: owner-only. */
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/** Temp files of an atomic write are named `<target><TEMP_MARK><pid>-<random>`, in the target's directory. */
export const TEMP_MARK = '.tmp-';

export function isTempName(name: string): boolean {
  return name.includes(TEMP_MARK);
}

export interface FileStat {
  kind: 'file' | 'dir' | 'other';
  size: number;
  mtimeMs: number;
  ino: number;
  /** Permission bits only (mode & 0o777). */
  mode: number;
}

/** What the agent's state code uses. Paths are absolute POSIX paths. */
export interface DurableFs {
  /** Replace `path` with `data` all or nothing: temp file → fsync → rename → fsync directory. Mode 0600. */
  writeFileAtomic(path: string, data: Uint8Array): Promise<void>;
  /** The file's bytes, or undefined when it does not exist. */
  readFile(path: string): Promise<Uint8Array | undefined>;
  /** Entry names, sorted; [] when the directory does not exist. Includes temp files (see isTempName). */
  list(dir: string): Promise<string[]>;
  /** Unlink and fsync the directory. A missing file is not an error. */
  remove(path: string): Promise<void>;
  /** Rename and fsync both directories (destination first). */
  rename(from: string, to: string): Promise<void>;
  /** mkdir -p with mode 0700; each directory it creates is made durable in its parent. */
  mkdirp(dir: string): Promise<void>;
  /** undefined when the path does not exist. */
  stat(path: string): Promise<FileStat | undefined>;
}

/** An open file being written. `write` writes all of `data` at the current end. */
export interface RawFile {
  write(data: Uint8Array): Promise<void>;
  /** fsync: the file's data and size reach the disk (its name does not; that needs syncDir). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The primitive operations, one system call each. Errors are Node-style (`code` = ENOENT, EEXIST,
 * ENOSPC…) so durable-ops.ts maps them in one place.
 */
export interface RawFs {
  /** Create a new file (with `mode`) and open it for writing; the real one refuses an existing name or a symlink. */
  openForWrite(path: string, mode: number): Promise<RawFile>;
  readFile(path: string): Promise<Uint8Array>;
  readdir(path: string): Promise<string[]>;
  stat(path: string): Promise<FileStat>;
  /** One level; EEXIST if it exists. */
  mkdir(path: string, mode: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Open the directory read-only and fsync it, so creates/renames/unlinks in it survive power loss. */
  syncDir(path: string): Promise<void>;
}
