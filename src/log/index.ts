/**
 * The record log: the durable, append-only, CRC-checked sequence of signed records that every
 * other layer derives from. Format: `format.ts` and docs/FORMAT.md.
 */
export { crc32c } from "./crc32c.ts";
export type { LogDisk } from "./disk.ts";
export { type LogEntry, type LogEntryInput, logDirName, payloadBytesMax, segmentFileName } from "./format.ts";
export { batchBytesMax, Log, type LogOptions, type LogPosition, segmentBytesMaxDefault } from "./log.ts";
export { cutSegmentAt } from "./segment.ts";
export { type VerifyOptions, type VerifyProblem, type VerifyReport, verifyLog } from "./verify.ts";
export { applyRepair, planRepair, type RepairPlan } from "./repair.ts";
