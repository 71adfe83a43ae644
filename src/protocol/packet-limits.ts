/** What the agent accepts unless configured otherwise: any EMQX-FT answer, an nftp block up to 1 MiB - 4 KiB. */
export const defaultMaxPacketSize = 1024 * 1024;
/** Room around an nftp block in one MQTT packet: fixed header, topic, properties, nftp header. */
export const nftpPacketOverhead = 4096;
