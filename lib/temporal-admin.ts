/**
 * Operator-side Temporal setup for a server duka did not start itself (TEMPORAL_ADDRESS set), and for a dev server
 * restarted on an existing database (start-dev registers `--search-attribute`s only when it creates a namespace).
 */
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES, type SearchAttributeKind, type SearchAttributeSpec } from './search-attributes.ts';

/** Values of temporal.api.enums.v1.IndexedValueType. */
const INDEXED_VALUE_TYPE: Record<SearchAttributeKind, number> = {
  Text: 1,
  Keyword: 2,
  Int: 3,
  Double: 4,
  Bool: 5,
  Datetime: 6,
  KeywordList: 7,
};
const KIND_BY_INDEXED_VALUE_TYPE = new Map(Object.entries(INDEXED_VALUE_TYPE).map(([kind, n]) => [n, kind]));

const GRPC_ALREADY_EXISTS = 6;

export interface RegisterSearchAttributesResult {
  added: string[];
  existing: string[];
}

/**
 * Registers every attribute of `attributes` (CONTRACT's by default) in `namespace`, idempotently: attributes
 * already registered with the same type are left alone, a concurrent registration (ALREADY_EXISTS) is ignored.
 * An attribute registered with another type is an error, as duka's queries would silently break.
 * Takes an open Connection (left open) or a `host:port` address (connected and closed here).
 */
export async function registerSearchAttributes(
  connectionOrAddress: Connection | string,
  namespace: string,
  attributes: SearchAttributeSpec = SEARCH_ATTRIBUTES,
): Promise<RegisterSearchAttributesResult> {
  const ownConnection = typeof connectionOrAddress === 'string';
  const connection = ownConnection ? await Connection.connect({ address: connectionOrAddress }) : connectionOrAddress;
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const current: Record<string, number> = customAttributes ?? {};
    const missing: Record<string, number> = {};
    const existing: string[] = [];
    const conflicts: string[] = [];
    for (const [name, kind] of Object.entries(attributes)) {
      const have = current[name];
      if (have === undefined) missing[name] = INDEXED_VALUE_TYPE[kind];
      else if (have === INDEXED_VALUE_TYPE[kind]) existing.push(name);
      else conflicts.push(`${name} is ${KIND_BY_INDEXED_VALUE_TYPE.get(have) ?? `type ${have}`}, duka needs ${kind}`);
    }
    if (conflicts.length > 0) {
      throw new Error(`search attributes in namespace ${namespace} have the wrong type: ${conflicts.join('; ')}`);
    }
    const added = Object.keys(missing);
    if (added.length > 0) {
      const add = async (searchAttributes: Record<string, number>) => {
        try {
          await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
          return true;
        } catch (err) {
          if ((err as { code?: unknown }).code !== GRPC_ALREADY_EXISTS) throw err;
          return false;
        }
      };
      // Someone registered one of them meanwhile: the batch is refused whole, so add them one by one.
      if (!(await add(missing))) {
        for (const [name, type] of Object.entries(missing)) await add({ [name]: type });
      }
    }
    return { added, existing };
  } finally {
    if (ownConnection) await connection.close();
  }
}
