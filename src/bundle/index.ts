export * from "./closure.ts";
export * from "./export.ts";
export * from "./format.ts";
export * from "./import.ts";
export * from "./reader.ts";
export * from "./verify.ts";
