// What global-setup.ts hands the worker tests and vitest.config.ts (`provide` / `inject`). Its own
// file, because both type-check projects need it (the setup runs in Node, the tests in workerd).
import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    blueUrl: string;
    greenUrl: string;
    hooksUrl: string;
  }
}
