export * from "./damage.ts";
export * from "./list.ts";
export * from "./match.ts";
export * from "./schema.ts";
export * from "./store.ts";
