import { Type } from 'typebox';

/** The body of every error response. */
export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable machine-readable error code.' }),
      message: Type.String({ description: 'What went wrong and how to fix it.' }),
      requestId: Type.String({ description: 'Also sent as the x-request-id header; quote it in bug reports.' }),
      details: Type.Optional(
        Type.Array(
          Type.Object(
            { field: Type.Optional(Type.String()), message: Type.String() },
            { additionalProperties: true },
          ),
        ),
      ),
    }),
  },
  { description: 'Error' },
);

/** Error responses by status, for route schemas: `response: { ...errorResponses(400, 401) }`. */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorResponse> {
  return Object.fromEntries(statuses.map((status) => [status, ErrorResponse]));
}

export const BearerSecurity = [{ bearerAuth: [] }];
