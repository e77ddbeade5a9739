import { DefaultFailureConverter } from '@temporalio/common';

/**
 * duka's failure converter (`failureConverterPath` of lib/data-converter.ts, loaded by the SDK by path in every Client
 * and Worker and bundled into the workflow code by workers/worker.ts): error messages and stack traces travel as an
 * encoded attributes payload, which the payload codec encrypts like any other, so a customer's number in an error (a
 * provider's echo, a refusal that names it) never sits in Temporal's history in clear; the failure's own message reads
 * "Encoded failure". Failures recorded before it (plain message) still decode as they are. Workflow-safe: no Node module.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
