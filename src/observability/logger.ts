import { pino, type Logger } from 'pino';
import { currentRequestScope } from './request-scope.js';

/**
 * Logs carry ids, never personal data. Redaction is the safety net for the
 * places where a header or an identifier could slip into a log object.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  'authorization',
  '*.authorization',
  'token',
  '*.token',
  'identifier.value',
  '*.identifier.value',
  'value',
  '*.value',
  'email',
  '*.email',
  'phone',
  '*.phone',
  'displayName',
  '*.displayName',
  'variables',
  '*.variables',
  'input',
  '*.input',
  'identifiers',
  '*.identifiers',
  'sessionToken',
  '*.sessionToken',
];

/** Whether a (child) logger already binds requestId, so the mixin does not write it twice. */
const bindsRequestId = new WeakMap<object, boolean>();

function hasRequestIdBinding(logger: Logger): boolean {
  let known = bindsRequestId.get(logger);
  if (known === undefined) {
    known = 'requestId' in logger.bindings();
    bindsRequestId.set(logger, known);
  }
  return known;
}

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'veil' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Lines written while serving a request, by any logger, carry its id.
      mixin: (mergeObject, _level, logger) => {
        const scope = currentRequestScope();
        if (!scope || 'requestId' in mergeObject || hasRequestIdBinding(logger as Logger)) return {};
        return { requestId: scope.requestId };
      },
    },
    destination ?? process.stdout,
  );
}
