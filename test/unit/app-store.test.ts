import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { appleRootCertificate } from '../../src/adapters/app-store/apple-app-store.js';

describe('appleRootCertificate', () => {
  it('loads the bundled Apple Root CA G3', () => {
    const certificate = new X509Certificate(appleRootCertificate());

    assert.match(certificate.subject, /CN=Apple Root CA - G3/);
    assert.equal(certificate.subject, certificate.issuer);
    assert.ok(certificate.ca);
    assert.ok(certificate.verify(certificate.publicKey), 'the root is self-signed');
    assert.equal(certificate.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
  });
});
