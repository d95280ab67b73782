import * as t from 'io-ts';

export interface PortBrand {
  readonly Port: unique symbol;
}
export const Port = t.brand(
  t.number,
  (n): n is t.Branded<number, PortBrand> => Number.isInteger(n) && n >= 1 && n <= 65535,
  'Port',
);
