/** Dokkaa's version, reported in node records and `dokkaa --version`. */
export const VERSION = '0.1.0';
