/**
 * The record log: the durable, append-only, CRC-checked sequence of signed records that every
 * other layer derives from. Format: `format.ts` and docs/FORMAT.md.
 *
 * The face other layers use: the running `Log` (store); verify and repair (the CLI); and, for
 * tools that read a log directory from outside a running log (backup, archival, restore, the
 * Merkle root), its segment files — listed, read whole as `SegmentImage`s whose frames they
 * walk (or walked a chunk at a time from a known frame: `entriesFrom`), headers read alone, cut
 * at a frame boundary. The framing itself stays in here.
 */
export type { LogDisk } from "./disk.ts";
export { type LogEntry, type LogEntryInput, logDirName, type SegmentHeader, segmentFileName } from "./format.ts";
export { Log, type LogOptions, type LogPosition, segmentBytesMaxDefault } from "./log.ts";
export type { FrameVisitor, SegmentWalk } from "./reader.ts";
export { applyRepair, planRepair, type RepairPlan } from "./repair.ts";
export { cutSegmentAt, listSegmentFiles, readSegmentHeader, type SegmentFile } from "./segment.ts";
export { entriesFrom, lastWholeLsn, SegmentImage } from "./segment-image.ts";
export { type VerifyOptions, type VerifyProblem, type VerifyReport, verifyLog } from "./verify.ts";
