import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';

/**
 * Sealed boxes on Node's crypto: X25519 with a fresh ephemeral key per message, HKDF-SHA256
 * over the shared secret, AES-256-GCM. Anyone with the public key can seal; only the private
 * key opens. The envelope is JSON-friendly: every binary field is base64.
 */
export interface SealedEnvelope {
  /** Format version. */
  v: 1;
  /** The sender's ephemeral X25519 public key, raw (32 bytes). */
  epk: string;
  /** The AES-GCM nonce (12 bytes). */
  nonce: string;
  /** Ciphertext followed by the 16-byte GCM tag. */
  ct: string;
}

/** A key pair as base64 of its raw 32-byte halves. */
export interface SealKeyPair {
  publicKey: string;
  privateKey: string;
}

const INFO = Buffer.from('dokkaa seal v1');
const TAG_BYTES = 16;

export function generateSealKeyPair(): SealKeyPair {
  const privateKey = newPrivateKey();
  return { publicKey: rawPublic(createPublicKey(privateKey)).toString('base64'), privateKey: rawPrivate(privateKey).toString('base64') };
}

/**
 * A new X25519 private key: 32 random bytes (RFC 7748 §5: any 32 bytes are a private key; the
 * scalar is clamped where it is used), imported. Not generateKeyPairSync: on Node 20 a key
 * pair job, when the collector frees it, locks its key's mutex, and a collection that runs
 * inside a JWK export of that key (which holds the same mutex) deadlocks the process. Seen
 * in a hollow-host worker (gdb: ~KeyGenJob under ExportJWKEdKey) and reproduced by sealing
 * a few thousand times (test/unit/seal.test.ts).
 */
function newPrivateKey(): KeyObject {
  return privateKeyObject(randomBytes(32).toString('base64'));
}

/** The public half of a raw base64 private key. */
export function publicKeyOf(privateKey: string): string {
  return rawPublic(createPublicKey(privateKeyObject(privateKey))).toString('base64');
}

export function seal(publicKey: string, plaintext: Buffer | string): SealedEnvelope {
  const recipient = publicKeyObject(publicKey);
  const eph = newPrivateKey();
  const epk = rawPublic(createPublicKey(eph));
  const key = derive(diffieHellman({ privateKey: eph, publicKey: recipient }), epk, rawPublic(recipient));
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { v: 1, epk: epk.toString('base64'), nonce: nonce.toString('base64'), ct: ct.toString('base64') };
}

/** The plaintext; throws if the envelope is malformed, for another key, or tampered with. */
export function open(privateKey: string, sealed: SealedEnvelope): Buffer {
  if (sealed.v !== 1) throw new Error(`sealed envelope: expected version 1, got ${JSON.stringify(sealed.v)}`);
  const own = privateKeyObject(privateKey);
  const epk = Buffer.from(sealed.epk, 'base64');
  const key = derive(diffieHellman({ privateKey: own, publicKey: publicKeyObject(sealed.epk) }), epk, rawPublic(createPublicKey(own)));
  const data = Buffer.from(sealed.ct, 'base64');
  if (data.length < TAG_BYTES) throw new Error('sealed envelope: ciphertext too short');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.nonce, 'base64'));
  decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
  return Buffer.concat([decipher.update(data.subarray(0, data.length - TAG_BYTES)), decipher.final()]);
}

// Both public keys go into the HKDF info, binding the key to this exchange (as libsodium's sealed boxes do).
function derive(shared: Buffer, epk: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.alloc(0), Buffer.concat([INFO, epk, recipient]), 32));
}

// Raw X25519 keys travel as JWK's base64url `x`/`d`, which Node imports and exports directly.
function publicKeyObject(raw: string): KeyObject {
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length !== 32) throw new Error(`X25519 public key: expected 32 bytes, got ${bytes.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: bytes.toString('base64url') }, format: 'jwk' });
}

function privateKeyObject(raw: string): KeyObject {
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length !== 32) throw new Error(`X25519 private key: expected 32 bytes, got ${bytes.length}`);
  // PKCS#8 DER of an X25519 key is a fixed 16-byte header and the raw 32 bytes (RFC 8410).
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), bytes]);
  return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
}

function rawPublic(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
}

function rawPrivate(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url');
}
