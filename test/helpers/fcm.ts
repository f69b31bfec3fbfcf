import nock from 'nock';
import pino from 'pino';
import { FirebasePushNotifier } from '../../src/adapters/push/firebase-push-notifier.js';

export const FCM_ORIGIN = 'https://fcm.googleapis.com';
export const FCM_PROJECT_ID = 'envision-tests';
export const FCM_SEND_PATH = `/v1/projects/${FCM_PROJECT_ID}/messages:send`;

/**
 * Stops every HTTP request that leaves the process, except to loopback, so FCM can only be reached through
 * the nock interceptors a test sets up. Returns the function that undoes this.
 */
export function blockNetworkExceptLoopback(): () => void {
  nock.disableNetConnect();
  nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/);
  return () => {
    nock.cleanAll();
    nock.enableNetConnect();
  };
}

/** Creates a notifier on a stub credential, which returns a fixed access token without a request to Google. */
export function stubbedFirebaseNotifier(options: { checkTimeoutMs?: number } = {}): FirebasePushNotifier {
  return new FirebasePushNotifier({
    credential: { getAccessToken: async () => ({ access_token: 'stub-access-token', expires_in: 3600 }) },
    projectId: FCM_PROJECT_ID,
    logger: pino({ level: 'silent' }),
    ...options,
  });
}

/** Builds the error body FCM's HTTP v1 API returns when a send fails, in the shape Google documents. */
export function fcmError(httpStatus: number, status: string, fcmErrorCode: string, message: string) {
  return {
    error: {
      code: httpStatus,
      message,
      status,
      details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: fcmErrorCode }],
    },
  };
}

export interface FcmSendBody {
  validate_only?: boolean;
  message: { token: string; notification?: { title: string; body: string }; data?: Record<string, string> };
}

/** Intercepts one send to `token`, responds with `status` and `body`, and records the request body in `sent`. */
export function interceptSend(token: string, status: number, body: unknown, sent: FcmSendBody[] = []): nock.Scope {
  return nock(FCM_ORIGIN)
    .post(FCM_SEND_PATH, (request: FcmSendBody) => request.message?.token === token)
    .matchHeader('authorization', 'Bearer stub-access-token')
    .reply(status, (_uri, request) => {
      sent.push(request as FcmSendBody);
      return body as nock.Body;
    });
}
