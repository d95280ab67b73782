import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateSealKeyPair, open, publicKeyOf, seal } from '../../src/crypto/seal.js';

describe('seal / open', () => {
  it('opens what was sealed to its public key, and only with its private key', () => {
    const keys = generateSealKeyPair();
    const sealed = seal(keys.publicKey, 'hunter2');
    assert.equal(sealed.v, 1);
    assert.equal(Buffer.from(sealed.epk, 'base64').length, 32);
    assert.equal(Buffer.from(sealed.nonce, 'base64').length, 12);
    assert.ok(!Buffer.from(sealed.ct, 'base64').toString().includes('hunter2'));
    assert.equal(open(keys.privateKey, sealed).toString(), 'hunter2');
    assert.throws(() => open(generateSealKeyPair().privateKey, sealed));
  });

  it('seals the same text differently each time (a fresh ephemeral key and nonce)', () => {
    const keys = generateSealKeyPair();
    const a = seal(keys.publicKey, 'x');
    const b = seal(keys.publicKey, 'x');
    assert.notEqual(a.epk, b.epk);
    assert.notEqual(a.ct, b.ct);
  });

  it('refuses a tampered ciphertext, nonce or version', () => {
    const keys = generateSealKeyPair();
    const sealed = seal(keys.publicKey, 'secret value');
    const ct = Buffer.from(sealed.ct, 'base64');
    ct[0]! ^= 1;
    assert.throws(() => open(keys.privateKey, { ...sealed, ct: ct.toString('base64') }));
    assert.throws(() => open(keys.privateKey, { ...sealed, nonce: Buffer.alloc(12).toString('base64') }));
    assert.throws(() => open(keys.privateKey, { ...sealed, v: 2 as 1 }), /version/);
  });

  it('derives the public half from the private key', () => {
    const keys = generateSealKeyPair();
    assert.equal(publicKeyOf(keys.privateKey), keys.publicKey);
    assert.throws(() => seal(Buffer.alloc(5).toString('base64'), 'x'), /expected 32 bytes, got 5/);
  });

  it('seals thousands of times under constant garbage collection without deadlocking (Node 20 key-pair jobs did)', () => {
    // A 1 MB young generation collects every few seals; with generateKeyPairSync this hung
    // within 10,000 seals on every run (a collection inside a JWK export freed a key-pair
    // job that locked the exported key's mutex; seal.ts says more).
    const script = `
      const { generateSealKeyPair, seal, open } = await import(${JSON.stringify(new URL('../../src/crypto/seal.js', import.meta.url).href)});
      const keys = generateSealKeyPair();
      let last;
      for (let i = 0; i < 10000; i++) {
        last = seal(keys.publicKey, 'y');
        if (i % 10 === 0) generateSealKeyPair();
      }
      process.stdout.write(open(keys.privateKey, last).toString());`;
    const r = spawnSync(process.execPath, ['--max-semi-space-size=1', '--input-type=module', '-e', script], { timeout: 90_000, encoding: 'utf8' });
    assert.equal(r.signal, null, 'the sealing process was killed at its timeout: deadlocked');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'y');
  });
});
