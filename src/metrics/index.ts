/**
 * The metrics layer's face: one registry per server (`createMetrics`), the metrics each layer
 * sets, and what the scrape-time metrics read (`ScrapeSources`, handed over by the server).
 */
export { createMetrics, type Metrics } from "./metrics.ts";
export type { BackupTimes, ScrapeSources } from "./scrape.ts";
