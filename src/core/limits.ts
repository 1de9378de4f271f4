/**
 * Named limits (docs/RECORDS.md#values-and-limits, §8), units last. A limit is part of the contract: a record that an
 * independent client builds within these bounds is accepted by every node.
 */
export const formatVersion = 1;
export const keyBytes = 32;
export const idBytes = 32;
export const sigBytes = 64;

export const subjectBytesMax = 512;
export const predicateBytesMax = 128;
export const objectBytesMax = 16 * 1024;
/** Identifiers and labels: source ids, units, epoch names, tags, actions. */
export const labelBytesMax = 256;
/** Free text: notes, reasons, titles, evidence items, urls. */
export const textBytesMax = 4096;
export const evidenceItemsMax = 16;
export const dependsOnItemsMax = 64;
export const tagsItemsMax = 16;
/** A whole canonical body; the log frames at most this much per record. */
export const bodyBytesMax = 64 * 1024;

export const batchRecordsMax = 10_000;
export const writeBodyBytesMax = 1024 * 1024;
export const batchBodyBytesMax = 16 * 1024 * 1024;
export const listLimitDefault = 100;
export const listLimitMax = 1000;
export const clockSkewMsDefault = 1000;
