import type { URLSearchParams } from 'node:url';
import { AppStoreServerAPIClient, Environment } from '@apple/app-store-server-library';
import type { AppStoreEnvironment } from './app-store.js';

/** Apple's hosts for the App Store Server API (the same values the library uses). */
export const APPLE_API_URLS: Record<AppStoreEnvironment, string> = {
  Production: 'https://api.storekit.apple.com',
  Sandbox: 'https://api.storekit-sandbox.apple.com',
};

type LibraryResponse = Awaited<ReturnType<AppStoreServerAPIClient['makeFetchRequest']>>;

/** A request to Apple that timed out or failed below HTTP (DNS, connection, TLS, a cut-off body). */
export class AppStoreConnectionError extends Error {
  constructor(
    readonly reason: 'timeout' | 'network',
    message: string,
    options: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'AppStoreConnectionError';
  }
}

export interface AppStoreApiClientOptions {
  signingKey: string;
  keyId: string;
  issuerId: string;
  bundleId: string;
  environment: AppStoreEnvironment;
  /** Replaces Apple's host, for a fake App Store on loopback in tests and benchmarks. */
  baseUrl: string | undefined;
  /** Time allowed for one request, from connecting to the end of the response body. */
  timeoutMs: number;
}

/**
 * The library's client with a request timeout and a configurable host. Library version 3.1.0 sends
 * requests through `makeFetchRequest` with no timeout, and its hosts are private, so both are set here
 * by overriding that method, which the library leaves open for this.
 */
export class AppStoreApiClient extends AppStoreServerAPIClient {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(options: AppStoreApiClientOptions) {
    const environment = options.environment === 'Production' ? Environment.PRODUCTION : Environment.SANDBOX;
    super(options.signingKey, options.keyId, options.issuerId, options.bundleId, environment);
    this.baseUrl = options.baseUrl ?? APPLE_API_URLS[options.environment];
    this.timeoutMs = options.timeoutMs;
  }

  /**
   * Sends the request and reads the whole body under one deadline, then hands the library a buffered
   * response. The library reads only `ok`, `status` and `json()` of it, which the fetch API's Response has
   * as node-fetch's does.
   */
  protected override async makeFetchRequest(
    path: string,
    parsedQueryParameters: URLSearchParams,
    method: string,
    requestBody: string | Buffer | undefined,
    headers: { [key: string]: string },
  ): Promise<LibraryResponse> {
    const query = parsedQueryParameters.toString();
    const url = `${this.baseUrl}${path}${query === '' ? '' : `?${query}`}`;

    let response: Response;
    let body: ArrayBuffer;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: requestBody,
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      body = await response.arrayBuffer();
    } catch (error) {
      const name = (error as { name?: unknown }).name;
      if (name === 'TimeoutError' || name === 'AbortError') {
        throw new AppStoreConnectionError('timeout', `App Store request timed out after ${this.timeoutMs} ms`, {
          cause: error,
        });
      }
      throw new AppStoreConnectionError('network', `App Store request failed: ${(error as Error).message}`, {
        cause: error,
      });
    }

    // A Response with a 204 or 304 status must not have a body, even an empty one.
    const buffered = new Response(body.byteLength === 0 ? null : body, {
      status: response.status,
      headers: response.headers,
    });
    return buffered as unknown as LibraryResponse;
  }
}
