import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { demuxFrames } from '../../src/docker/log-frames.js';

const frame = (stream: number, text: string) => {
  const body = Buffer.from(text);
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
};

describe('demuxFrames', () => {
  it('joins the payloads of stdout and stderr frames in order, dropping a cut-off header', () => {
    const buf = Buffer.concat([frame(1, 'out one\n'), frame(2, 'err\n'), frame(1, 'out two\n'), Buffer.from([1, 0, 0])]);
    assert.equal(demuxFrames(buf).toString(), 'out one\nerr\nout two\n');
  });
});
