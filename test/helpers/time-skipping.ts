import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal as proto } from '@temporalio/proto';
import { testServerExecutable } from '../../lib/temporal-binaries.ts';
import { SEARCH_ATTRIBUTES } from '../../lib/search-attributes.ts';
import { testDataConverter } from './codec.ts';

const INDEXED_VALUE_TYPE: Record<string, proto.api.enums.v1.IndexedValueType> = {
  Keyword: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Double: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  Datetime: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
};

/** The time-skipping test server with duka's search attributes (it knows none until told; it has no list call, only add). */
export async function startTimeSkipping(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: testServerExecutable() }, client: { dataConverter: testDataConverter() } });
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: Object.fromEntries(Object.entries(SEARCH_ATTRIBUTES).map(([name, kind]) => [name, INDEXED_VALUE_TYPE[kind]!])),
  });
  return env;
}
