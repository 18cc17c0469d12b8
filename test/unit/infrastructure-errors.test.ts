import { MongoClientClosedError, MongoNetworkError, MongoServerClosedError, MongoServerError, MongoServerSelectionError } from 'mongodb';
import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { classifyInfrastructureError } from '../../src/http/infrastructure-errors.js';

const serverError = (code: number, message = 'error') => new MongoServerError({ message, errmsg: message, code });

describe('classifyInfrastructureError', () => {
  it('takes the driver errors for an unreachable server as MongoDB unavailable, also when wrapped as a cause', () => {
    expect(classifyInfrastructureError(new MongoNetworkError('connection 3 to 127.0.0.1:27017 closed'))).toBe('mongodb');
    expect(classifyInfrastructureError(new MongoServerClosedError())).toBe('mongodb');
    // What runs while the watchdog closes the client to connect it afresh (a probe saw it as INTERNAL_SERVER_ERROR).
    expect(classifyInfrastructureError(new MongoClientClosedError())).toBe('mongodb');
    expect(classifyInfrastructureError(new Error('wrapped', { cause: new MongoNetworkError('closed') }))).toBe('mongodb');
    expect(classifyInfrastructureError(new MongoServerSelectionError('Server selection timed out', { type: 'Unknown' } as never))).toBe('mongodb');
  });

  it('takes the replies of a mongod that is shutting down or stepping down as unavailable', () => {
    for (const code of [11600, 91, 10107, 189, 11602, 13435, 13436, 6, 7, 89, 9001]) {
      expect(classifyInfrastructureError(serverError(code)), `code ${code}`).toBe('mongodb');
    }
  });

  it("takes FerretDB's answers to the operations it was running when told to stop as unavailable, and no other InternalError", () => {
    expect(classifyInfrastructureError(serverError(1, '[msg_find.go:120 handler.(*Handler).MsgFind] context canceled after delay'))).toBe('mongodb');
    expect(classifyInfrastructureError(serverError(1, 'sql: database is closed'))).toBe('mongodb');
    expect(classifyInfrastructureError(serverError(1, 'unexpected end of JSON input'))).toBeNull();
    expect(classifyInfrastructureError(serverError(2, 'context canceled'))).toBeNull();
  });

  it('leaves a refused write, a bad query, an exceeded time limit and a bug to be reported as they are', () => {
    for (const code of [11000, 2, 50, 262, 1, 121]) expect(classifyInfrastructureError(serverError(code)), `code ${code}`).toBeNull();
    expect(classifyInfrastructureError(new TypeError('undefined is not a function'))).toBeNull();
    expect(classifyInfrastructureError('not an error')).toBeNull();
  });

  it('takes the replies of a Redis that cannot serve now as unavailable, and its other refusals as they are', () => {
    expect(classifyInfrastructureError(new ReplyError('NOREPLICAS Not enough good replicas to write.'))).toBe('redis');
    expect(classifyInfrastructureError(new ReplyError('LOADING Redis is loading the dataset in memory'))).toBe('redis');
    expect(classifyInfrastructureError(new ReplyError('ERR unknown command'))).toBeNull();
    expect(classifyInfrastructureError(new Error('Connection is closed.'))).toBe('redis');
  });
});
