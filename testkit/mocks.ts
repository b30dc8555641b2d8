import * as pulumi from "@pulumi/pulumi";

/** A resource a component registered in the in-process mock runtime. */
export interface Recorded {
  type: string;
  name: string;
  inputs: any;
}

export const recorded: Recorded[] = [];

let installed = false;

/** Installs Pulumi's mock runtime once for this mocha process; resources echo their inputs. */
export function useMocks(): void {
  if (installed) return;
  installed = true;
  pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        recorded.push({ type: args.type, name: args.name, inputs: args.inputs });
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    "sonic-observability",
    "unit",
    false,
  );
}

/** The value of an Output, once the mock runtime resolves it. */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}

/** Waits until the mock monitor has seen a resource of this type and name, and returns its inputs. */
export async function registered(type: string, name: string): Promise<any> {
  for (let i = 0; i < 200; i++) {
    const hit = recorded.find((r) => r.type === type && r.name === name);
    if (hit) return hit.inputs;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`no ${type} named ${name} was registered`);
}
