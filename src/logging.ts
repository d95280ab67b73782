import winston from 'winston';

export type Logger = winston.Logger;

/**
 * Structured JSON logs on stderr (stdout stays free for CLI output). A reconcile logs on a
 * child carrying {controller, key}; messages are constant, variables are fields.
 */
export function createLogger(level = 'info', silent = false): Logger {
  return winston.createLogger({
    level,
    silent,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  });
}

/** An error as a log field: message and gRPC/HTTP code, not a stack dump. */
export function errorField(err: unknown): { message: string; code?: unknown } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown; statusCode?: unknown }).code ?? (err as { statusCode?: unknown }).statusCode;
    return code === undefined ? { message: err.message } : { message: err.message, code };
  }
  return { message: String(err) };
}

/** For decodeRecord's `onInvalid`: logs a record at `key` that does not decode (the caller treats it as absent). */
export function invalidRecord(log: Logger, key: string): (error: string) => void {
  return (error) => log.warn('record does not decode; treated as absent', { key, error });
}
