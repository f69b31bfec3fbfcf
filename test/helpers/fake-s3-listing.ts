import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeS3Listing {
  endpoint: string;
  /** Keys currently stored. */
  keys: Set<string>;
  /** Number of keys in each DeleteObjects request, in order. */
  deleteBatches: number[];
  /** Number of ListObjectsV2 requests served. */
  listRequests: number;
  close(): Promise<void>;
}

/**
 * Starts a minimal S3 endpoint on 127.0.0.1 that serves ListObjectsV2 (with continuation tokens) and
 * DeleteObjects for one bucket, keeping keys in memory. s3rver 3.7 answers any truncated listing with a
 * 500 on Node.js 20, because it encrypts continuation tokens with DES, which OpenSSL 3 leaves out. This
 * fake lets the paging of `deletePrefix` run against real HTTP requests all the same.
 *
 * Keys under `locked/` are refused in DeleteObjects with AccessDenied, as a bucket policy would.
 */
export async function startFakeS3Listing(bucket: string, keys: string[]): Promise<FakeS3Listing> {
  const state: Omit<FakeS3Listing, 'endpoint' | 'close'> = { keys: new Set(keys), deleteBatches: [], listRequests: 0 };

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      response.setHeader('content-type', 'application/xml');
      if (url.pathname !== `/${bucket}` && url.pathname !== `/${bucket}/`) {
        response.writeHead(404).end('<Error><Code>NoSuchBucket</Code><Message>No such bucket</Message></Error>');
        return;
      }
      if (request.method === 'GET' && url.searchParams.get('list-type') === '2') {
        state.listRequests += 1;
        response.end(listObjects(state.keys, url.searchParams));
        return;
      }
      if (request.method === 'POST' && url.searchParams.has('delete')) {
        response.end(deleteObjects(state, Buffer.concat(chunks).toString('utf8')));
        return;
      }
      response.writeHead(501).end('<Error><Code>NotImplemented</Code><Message>Not in this fake</Message></Error>');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return Object.assign(state, {
    endpoint: `http://127.0.0.1:${port}`,
    close: async () => {
      server.close();
      server.closeAllConnections();
      await once(server, 'close');
    },
  });
}

function listObjects(keys: Set<string>, parameters: URLSearchParams): string {
  const prefix = parameters.get('prefix') ?? '';
  const maxKeys = Number(parameters.get('max-keys') ?? '1000');
  const token = parameters.get('continuation-token');
  const after = token === null ? '' : Buffer.from(token, 'base64url').toString('utf8');
  const matching = [...keys].filter((key) => key.startsWith(prefix) && key > after).sort();
  const page = matching.slice(0, maxKeys);
  const truncated = matching.length > page.length;
  const next = truncated ? `<NextContinuationToken>${Buffer.from(page.at(-1)!).toString('base64url')}</NextContinuationToken>` : '';
  const contents = page.map((key) => `<Contents><Key>${key}</Key><Size>1</Size></Contents>`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Prefix>${prefix}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${next}${contents}</ListBucketResult>`;
}

function deleteObjects(state: Omit<FakeS3Listing, 'endpoint' | 'close'>, body: string): string {
  const requested = [...body.matchAll(/<Key>([^<]*)<\/Key>/g)].map((match) => match[1]!);
  state.deleteBatches.push(requested.length);
  const errors: string[] = [];
  for (const key of requested) {
    if (key.includes('locked/')) {
      errors.push(`<Error><Key>${key}</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`);
    } else {
      state.keys.delete(key);
    }
  }
  return `<?xml version="1.0" encoding="UTF-8"?><DeleteResult>${errors.join('')}</DeleteResult>`;
}
