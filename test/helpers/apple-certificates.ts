import { type KeyObject, X509Certificate, generateKeyPairSync } from 'node:crypto';
import jsrsasign from 'jsrsasign';

// Marker extensions Apple puts in its certificates, which SignedDataVerifier requires: the intermediate
// (Apple Worldwide Developer Relations) carries the first, the App Store signing leaf the second.
export const APPLE_INTERMEDIATE_MARKER_OID = '1.2.840.113635.100.6.2.1';
export const APPLE_LEAF_MARKER_OID = '1.2.840.113635.100.6.11.1';

export interface CertificateAndKey {
  /** DER bytes. */
  der: Buffer;
  privateKey: KeyObject;
}

/** A root → intermediate → leaf chain shaped like Apple's, made fresh for a test run. */
export interface TestCertificateChain {
  root: CertificateAndKey;
  intermediate: CertificateAndKey;
  leaf: CertificateAndKey;
}

interface CertificateRequest {
  subject: string;
  issuer: string;
  issuerKey: KeyObject;
  publicKey: KeyObject;
  serial: number;
  certificateAuthority: boolean;
  markerOid?: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * Generates a P-256 chain like the App Store's: a self-signed root, an intermediate carrying
 * 1.2.840.113635.100.6.2.1 and a leaf carrying 1.2.840.113635.100.6.11.1. The certificates have no OCSP
 * address, so a verifier with online checks on rejects them without any network request.
 */
export function createTestCertificateChain(validFrom = new Date(Date.now() - 24 * 3600 * 1000), validDays = 365): TestCertificateChain {
  const notAfter = new Date(validFrom.getTime() + validDays * 24 * 3600 * 1000);
  const rootKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const intermediateKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leafKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dates = { notBefore: validFrom, notAfter };

  const root = issueCertificate({
    subject: '/CN=Envision Test Root CA/O=Envision Tests',
    issuer: '/CN=Envision Test Root CA/O=Envision Tests',
    issuerKey: rootKeys.privateKey,
    publicKey: rootKeys.publicKey,
    serial: 1,
    certificateAuthority: true,
    ...dates,
  });
  const intermediate = issueCertificate({
    subject: '/CN=Envision Test Intermediate/O=Envision Tests',
    issuer: '/CN=Envision Test Root CA/O=Envision Tests',
    issuerKey: rootKeys.privateKey,
    publicKey: intermediateKeys.publicKey,
    serial: 2,
    certificateAuthority: true,
    markerOid: APPLE_INTERMEDIATE_MARKER_OID,
    ...dates,
  });
  const leaf = issueCertificate({
    subject: '/CN=Envision Test App Store Signing/O=Envision Tests',
    issuer: '/CN=Envision Test Intermediate/O=Envision Tests',
    issuerKey: intermediateKeys.privateKey,
    publicKey: leafKeys.publicKey,
    serial: 3,
    certificateAuthority: false,
    markerOid: APPLE_LEAF_MARKER_OID,
    ...dates,
  });

  return {
    root: { der: root, privateKey: rootKeys.privateKey },
    intermediate: { der: intermediate, privateKey: intermediateKeys.privateKey },
    leaf: { der: leaf, privateKey: leafKeys.privateKey },
  };
}

function issueCertificate(request: CertificateRequest): Buffer {
  const extensions: Array<Record<string, unknown>> = [
    { extname: 'basicConstraints', cA: request.certificateAuthority, critical: true },
    { extname: 'keyUsage', critical: true, names: request.certificateAuthority ? ['keyCertSign', 'cRLSign'] : ['digitalSignature'] },
  ];
  if (request.markerOid !== undefined) {
    // An extension jsrsasign does not know is written from its OID and DER value; 0500 is ASN.1 NULL.
    extensions.push({ extname: request.markerOid, extn: '0500' });
  }
  const certificate = new jsrsasign.KJUR.asn1.x509.Certificate({
    version: 3,
    serial: { int: request.serial },
    issuer: { str: request.issuer },
    subject: { str: request.subject },
    notbefore: asn1Time(request.notBefore),
    notafter: asn1Time(request.notAfter),
    sbjpubkey: request.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    ext: extensions,
    sigalg: 'SHA256withECDSA',
    cakey: request.issuerKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  } as never);
  const der = Buffer.from(certificate.getEncodedHex(), 'hex');
  new X509Certificate(der); // Fails here, not in the code under test, if the encoding is wrong.
  return der;
}

/** UTCTime as YYMMDDHHMMSSZ, which X.509 uses for dates before 2050. */
function asn1Time(date: Date): string {
  return `${date.toISOString().slice(2, 19).replace(/[-T:]/g, '')}Z`;
}
