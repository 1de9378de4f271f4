export * from "./list.ts";
export * from "./schema.ts";
export * from "./store.ts";
