/** Largest request body accepted anywhere (413 above it). */
export const BODY_LIMIT = '1mb';
