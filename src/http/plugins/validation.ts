import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance, FastifySchema } from 'fastify';

const SHARED_OPTIONS: Options = {
  allErrors: true,
  removeAdditional: true,
  useDefaults: true,
  strict: false,
};

/**
 * Validates bodies strictly and query strings leniently. A JSON body must carry the declared types
 * (a number where a string is due is a 400, as the client contract expects), while query and path
 * parameters always arrive as text and are converted, so `?page=2` can be an integer.
 */
export function registerValidation(app: FastifyInstance): void {
  const strict = addFormats.default(new Ajv({ ...SHARED_OPTIONS, coerceTypes: false }));
  const coercing = addFormats.default(new Ajv({ ...SHARED_OPTIONS, coerceTypes: 'array' }));

  app.setValidatorCompiler<FastifySchema>(({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strict : coercing;
    return ajv.compile(schema as object);
  });
}
