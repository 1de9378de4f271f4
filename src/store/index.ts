export * from "./datadir.ts";
export * from "./store.ts";
export * from "./lock.ts";
