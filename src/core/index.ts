export * from "./cbor.ts";
export * from "./errors.ts";
export * from "./hex.ts";
export * as limits from "./limits.ts";
export * from "./logger.ts";
export * from "./record.ts";
