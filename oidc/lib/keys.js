// Signing keys as a private JWKS file; the first key signs, every key in the file verifies.
import * as crypto from 'node:crypto';

import { readJson, writeJson, FILES, StateError } from './state.js';

export const ALGORITHM = 'RS256';

export function newSigningKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const kid = crypto.hash('sha256', JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n }), 'base64url').slice(0, 16);
  return { ...jwk, kid, alg: ALGORITHM, use: 'sig' };
}

export function loadJwks(dir) {
  const jwks = readJson(dir, FILES.jwks);
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0 || jwks.keys.some((key) => !key.d || !key.kid)) {
    throw new StateError(`${FILES.jwks} in ${dir} must hold {"keys": [...]} with at least one private key with a kid`);
  }
  return jwks;
}

// A new key goes first: it signs from the next start or reload on; the older keys stay published.
export function rotateKeys(dir) {
  const { keys } = loadJwks(dir);
  const key = newSigningKey();
  writeJson(dir, FILES.jwks, { keys: [key, ...keys] });
  return key.kid;
}

// Every key but the newest leaves the JWKS: tokens they signed are refused once resource servers refetch it.
export function retireKeys(dir) {
  const [newest, ...retired] = loadJwks(dir).keys;
  writeJson(dir, FILES.jwks, { keys: [newest] });
  return { kept: newest.kid, retired: retired.map((key) => key.kid) };
}
