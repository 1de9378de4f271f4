export * from "./hash.ts";
export * from "./sign.ts";
export * from "./verify.ts";
export * from "./verify-noble.ts";
export * from "./small-order.ts";
export * from "./signed.ts";
export * from "./verify-pool.ts";
