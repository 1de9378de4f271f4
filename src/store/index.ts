export * from "./datadir.ts";
export * from "./store.ts";
