/** The EMQX file-transfer emulation of the development broker. */
export { createFileTransfer } from './file-transfer';
export type { FileTransfer, FileTransferOptions } from './file-transfer';
