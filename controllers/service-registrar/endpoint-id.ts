/** `<name>.<replica>.<node>`: one endpoint per replica per host, unique within an app. */
export function endpointId(name: string, replica: number, node: string): string {
  return `${name}.${replica}.${node}`;
}
