import { dukaDataConverter, parseCodecKeys } from '../../lib/data-converter.ts';

/**
 * The payload codec key of every test run. Fixed and public on purpose: recorded histories (test/replay/histories)
 * are encrypted with it, and the replay suite must open them in every later run.
 */
export const TEST_PAYLOAD_CODEC_KEY = '64756b612074657374207061796c6f6164206b65792c206e6f74207365637265';

/** The data converter of test clients and workers that do not go through a duka config. */
export const testDataConverter = () => dukaDataConverter(parseCodecKeys(TEST_PAYLOAD_CODEC_KEY));
