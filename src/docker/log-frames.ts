/**
 * The payloads of Docker's multiplexed stream, in order: without a TTY, logs and exec output
 * come as frames with an 8-byte header (stream id, 3 zero bytes, payload size as uint32 BE).
 */
export function demuxFrames(buf: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(i + 4);
    out.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(out);
}
