export * from './names.js';
export * from './manifest.js';
export * from './keys.js';
export * from './records.js';
export * from './canonical-json.js';
export * from './decode-errors.js';
export * from './dns-names.js';
export * from './link-env.js';
