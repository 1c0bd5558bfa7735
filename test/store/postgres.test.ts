import { storeConformance } from './conformance.ts';
import { postgresHarness } from './support/harnesses.ts';

storeConformance(postgresHarness());
