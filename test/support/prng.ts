/** A seeded PRNG (mulberry32) for reproducible property and fault tests: floats in [0, 1). */
export { prng } from "../../src/core/prng.ts";
